"""`python -m concord_resp` runs the server, like `concord-server`."""

from .cli import server_main

server_main()
