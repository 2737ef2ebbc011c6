"""The functions' side of Dapr: everything here reaches the sidecar through the dapr SDK and
names components and app ids only (``client``, ``ratelimit``, ``events``, ``results``)."""
