"""Exception types of LiveMatch. Every message names the file (or key) and what is wrong."""


class LiveMatchError(Exception):
    """Base class of every error LiveMatch raises on purpose."""


class MediaError(LiveMatchError):
    """A photo or clip cannot be read: missing, empty, truncated, corrupt or without video."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(LiveMatchError, ValueError):
    """A config file or override is invalid: unknown key, wrong type, a choice that does not
    exist, values that do not fit together, unreadable YAML."""


class TrainingError(LiveMatchError):
    """A training cannot start or go on (no data, diverged, a bad resume); the message says what
    to do."""


class ResultFormatError(LiveMatchError):
    """A result.json cannot be used at all (not JSON, not an object)."""


class DatasetError(LiveMatchError):
    """A dataset root cannot be used at all (missing, not a folder)."""
