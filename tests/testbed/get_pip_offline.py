"""Offline stand-in for get-pip.py, used by ansible-test's venv bootstrap.

ansible-test downloads get-pip.py from a host this machine cannot reach; it
runs the cached script with pip's install arguments (e.g. ``pip==24.2
--no-setuptools --no-wheel``). This does the same with the interpreter's own
ensurepip and then pip itself, which reaches PyPI like every other install here.
"""
import ensurepip
import os
import subprocess
import sys

ENV = dict(os.environ)
ensurepip.bootstrap()  # leaves PIP_CONFIG_FILE=/dev/null in os.environ
ARGS = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
# The machine's pip configuration (CA bundle, index) applies again here.
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + ARGS, env=ENV)
