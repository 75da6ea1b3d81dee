"""Destination writers: a snapshot's rows, formatted, to S3 or an SFTP server (see ``docs/destinations.md``)."""
