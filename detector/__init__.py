"""detector package (see its issue); nothing here yet."""
