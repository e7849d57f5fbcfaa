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

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

demo: $(STAMP)
	$(BIN)/livematch sample-data $(DEMO_DIR) --seed $(DEMO_SEED) --overwrite
	$(BIN)/livematch validate $(DEMO_DIR)
	$(BIN)/livematch run --config configs/pipeline/demo.yaml --data $(DEMO_DIR) --out runs/demo --gt $(DEMO_DIR)

# Reproduces the committed demo weights on 2 CPU cores: the embedder (35 min, seeds 10 + 11), the
# one-class detector (51 min, seed 10), then its two-class fine-tune ("product": garments of
# catalogue items, instance_id > 0; "other": every other garment; 21 min). Validation data of
# seed 1; the demo itself runs on seed 1000, which none of them saw. Last, the frame region of
# configs/pipeline/demo.yaml (detector.infer.frame_region), learned from the training clips.
demo-data: $(STAMP)
	$(BIN)/livematch sample-data data/train --items 120 --videos 100 --seed 10 --overwrite
	$(BIN)/livematch sample-data data/train2 --items 120 --videos 100 --seed 11 --overwrite
	$(BIN)/livematch sample-data data/val --seed 1 --overwrite

demo-train: demo-data
	$(BIN)/livematch embed train --config configs/embedder/tiny.yaml --out runs/embedder_tiny \
		"embedder.data.roots=[data/train,data/train2]" "embedder.data.val_roots=[data/val]"
	$(BIN)/livematch detect train --config configs/detector/tiny.yaml --data data/train --val data/val \
		--out runs/detector_tiny
	$(BIN)/livematch detect train --config configs/detector/tiny.yaml --data data/train --val data/val \
		--out runs/detector_product --init-from runs/detector_tiny/best detector.model.split_by=instance \
		detector.train.epochs=2 detector.train.lr=0.01 detector.train.warmup_steps=50
	$(BIN)/python -m livematch.export runs/embedder_tiny/best weights/embedder_tiny
	$(BIN)/python -m livematch.export runs/detector_product/best weights/detector_tiny
	$(BIN)/livematch detect region --gt data/train --gt data/train2 --plot runs/frame_region.svg

bench: $(STAMP)
	$(BIN)/python -m bench.decode
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
