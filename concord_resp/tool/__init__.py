"""The `concord` tool's data commands: backup, restore and import-rdb.

Each talks to one node over the client port with a kept-open, pipelined connection
(`server.resp_client.Connection`): `backup` copies a snapshot the node writes for it
(`RAFT.BACKUP`), `restore` and `import-rdb` stream keys into a cluster as RESTORE commands
through the log (`bulk_load`), with a progress bar on a terminal (`progress`).
"""
