"""Scale-out: several server nodes sharing one Redis; any node serves any device.

Pieces
------
* :mod:`lwm2m.server.store.redis` -- the shared store: every node keeps a full
  copy in memory (reads never wait) and writes through to Redis with one Lua
  script per write, published on a change feed in Redis's commit order;
* :mod:`~lwm2m.server.cluster.node` -- :class:`~lwm2m.server.cluster.node.ClusterNode`,
  what a :class:`~lwm2m.server.Server` on that store does beside serving its own
  devices: heartbeats, mirroring the other nodes' registrations, forwarding calls
  to the owner, fanning events out, expiring once, taking over moved devices;
* :mod:`~lwm2m.server.cluster.routing` and :mod:`~lwm2m.server.cluster.wire` --
  request/reply between nodes over Redis pub/sub;
* :mod:`~lwm2m.server.cluster.placement` -- the bootstrap server hands each device
  the least-loaded live node and sets "Bootstrap on Registration Failure".

Ownership
---------
A device's CoAP/DTLS session lives on the node it talks to: the node that wrote
its registration last (Register or Update), recorded in Redis. A call made on
any node for that device runs on the owner: the calling node builds the CoAP
request as it would, the owner sends it from its socket (or DTLS session) and
returns the CoAP response, which the caller decodes with the same code: Python
results and errors and REST answers are what the owner would give, byte for
byte. Calls for a device whose owner is silent for ``dead_after`` seconds (three
heartbeats), or not subscribed at all (``PUBLISH`` reaches nobody), fail at once:
:class:`~lwm2m.server.cluster.errors.OwnerUnavailable`, REST 503.

Moving
------
When a node dies its devices' Updates fail; once the registration procedure has
failed (the client's retry settings) a device with /1/x/16 set bootstraps again,
is placed on a live node and registers there. That Register replaces the dead
node's registration atomically (one script) and moves its observations to the
new registration; the new owner observes them again with their tokens, so every
node's event stream and every proxy handle keeps receiving. Requests waiting for
a sleeping device are kept in Redis and sent by whichever node the device wakes
up on.

Behind a UDP load balancer
--------------------------
Nodes can also sit behind one address. What must hold: the balancer keeps a
device's datagrams on one node (source-address affinity, with a timeout longer
than the registration lifetime, or consistent hashing on the source address),
and the node's datagrams reach the device from the address the device
registered with (a balancer that relays both ways, NAT-style, or direct server
return with the shared address as source), because the device sends to and
accepts from that one address, and the node answers and sends to the address of
the last Register/Update (Core TS 6.2). A DTLS session exists on one node only:
a device moved to another node by the balancer (a rebalance, a node that died)
has no session there, gets an alert or no answer, and must handshake again;
plain CoAP devices just continue. The nodes behave the same behind it: the node
that receives a Register or Update becomes the owner, so ownership follows the
balancer's choice; that node observes the device's observations again at the
Update, and any node still forwards calls to the owner. Without affinity every
datagram may land on another node, and ownership would move with each Update:
affinity is required.
"""
