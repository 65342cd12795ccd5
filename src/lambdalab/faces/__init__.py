"""Real face detection for the offline Rekognition Video: the CenterFace detector and the video sampler.

Kept apart from `lambdalab.localaws` so the CLI (`python -m lambdalab detect`) and the notebooks can
detect faces without importing moto, and the emulator can reuse exactly the same code.
"""
