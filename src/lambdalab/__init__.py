"""Lambda Lab: a Jupyter teaching lab for event-driven serverless on AWS.

`lambdalab.localaws` is the embedded offline AWS (moto + a Lambda runner + a Rekognition Video
emulator); the rest of the package is what the notebooks and the CLI share.
"""

__version__ = "0.1.0"
