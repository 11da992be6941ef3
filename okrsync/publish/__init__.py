"""Publishing: the snapshot of a stored run, and the publishers that carry it out."""
