"""The embedded offline AWS: moto in server mode, plus a Lambda runner and Rekognition Video.

    from lambdalab.localaws import ensure_running
    endpoint = ensure_running()      # starts (or reuses) the background server; boto3 now uses it

See `process` for the three ways to start it and `patches` for what it changes in moto.
"""

from lambdalab.localaws.process import configure_environment, ensure_running, local_aws, status, stop

__all__ = ["configure_environment", "ensure_running", "local_aws", "status", "stop"]
