"""Operations: what sequences pipelines and acts on what they left live.

The CLI (``run.py``) calls these: running pipelines and saying where to look, promoting or
rolling back a live candidate, the deployment's status, the closed loop, and starting or
stopping the processes this checkout runs. Pipelines never import from here.
"""
