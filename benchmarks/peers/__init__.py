"""The peer engines of the workflows benchmark, each run as a script in its own environment.

``engines.py`` says what each peer is and where it is installed, ``install.py`` installs
them, ``run_<engine>.py`` measures one engine on one workload, with the protocol of
``_protocol.py`` that floe's fresh-process runs (``run_floe.py``) follow too.
"""
