# LiveMatch: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.livematch-installed
DEMO_DIR ?= data/demo
DEMO_SEED ?= 1000
PYTEST_ARGS ?=

.PHONY: venv test demo demo-data demo-train bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cpu,dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

demo: $(STAMP)
	$(BIN)/livematch sample-data $(DEMO_DIR) --seed $(DEMO_SEED) --overwrite
	$(BIN)/livematch validate $(DEMO_DIR)
	$(BIN)/livematch run --config configs/pipeline/demo.yaml --data $(DEMO_DIR) --out runs/demo --gt $(DEMO_DIR)

# The committed demo (weights/detector_tiny, weights/embedder_tiny, weights/worn_tiny,
# configs/pipeline/demo.yaml) is what `livematch fit` wrote, in two fits. The first fine-tuned the
# previous demo models (those of commit 75efcb1, themselves fit's output from the classic-data
# models of d3e9bbe) on varied sample data of seed 20: the detector 2 epochs into worn / alone
# classes (fit.split_by=auto), the embedder kept as it was (fit.finetune.embedder_epochs=0). The
# second keeps both models (--detector / --embedder), trains the worn scorer on seeds 20 and 24
# and calibrates every inference setting on seeds 21-23. `make demo` runs on seed 1000, which
# none of them saw. About 45 min on 2 CPU cores; re-running skips the finished stages. The demo
# embeds at the training scale only (fit.tta_scales=[]): on its own generator the 128 view tied
# and a demo calibrated with it scored lower on seed 1000 (docs/RESULTS.md, session 16).
demo-data: $(STAMP)
	$(BIN)/livematch sample-data data/fit_train --items 60 --videos 50 --seed 20 --overwrite
	$(BIN)/livematch sample-data data/fit_train2 --items 100 --videos 80 --seed 24 --overwrite
	for s in 21 22 23; do $(BIN)/livematch sample-data data/val$$s --seed $$s --overwrite || exit 1; done

demo-train: demo-data
	mkdir -p runs/demo_v2 && git archive 75efcb1 weights | tar -x -C runs/demo_v2
	$(BIN)/livematch fit --data data/fit_train --val data/val21 --val data/val22 --val data/val23 \
		--out runs/fit_demo --init-from runs/demo_v2/weights fit.finetune.embedder_epochs=0 fit.worn=false
	$(BIN)/livematch fit --data data/fit_train --data data/fit_train2 --val data/val21 --val data/val22 \
		--val data/val23 --out runs/fit_demo_worn --detector runs/fit_demo/weights/detector \
		--embedder runs/fit_demo/weights/embedder fit.tta_scales=[]
	rm -rf weights/detector_tiny weights/embedder_tiny weights/worn_tiny
	cp -r runs/fit_demo/weights/detector weights/detector_tiny
	cp -r runs/fit_demo/weights/embedder weights/embedder_tiny
	cp -r runs/fit_demo_worn/weights/worn weights/worn_tiny
	sed -e 's#^  detector: .*$$#  detector: ../../weights/detector_tiny#' \
		-e 's#^  - .*weights/embedder.*$$#  - ../../weights/embedder_tiny#' \
		-e 's#^  worn: weights/worn$$#  worn: ../../weights/worn_tiny#' runs/fit_demo_worn/pipeline.yaml > configs/pipeline/demo.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.decode
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
