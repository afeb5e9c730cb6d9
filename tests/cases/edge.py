"""Edge configurations beyond the app's default (no domain, no accelerator).

* ``EdgeDomain*``: a domain and hosted zone, with Global Accelerator: every
  piece combined (certificates, latency and alias records, health checks,
  ``api.<domain>`` on the accelerator, CloudFront -> accelerator over HTTPS);
* ``EdgeAccel*``: Global Accelerator in three regions without a domain
  (CloudFront -> the accelerator's own name over HTTP).

Each configuration is several stacks in several regions; the factories build
the whole set once per app and hand out its stacks by ID.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk

from stacks.edge_stack import build_edge

DOMAIN = "example.com"
ZONE_ID = "Z0123456789ABCDEFGHIJ"

CONFIGS = {
    "EdgeDomain": dict(domain=DOMAIN, hosted_zone_id=ZONE_ID, accelerator=True),
    "EdgeAccel": dict(accelerator=True, regions=("us-east-1", "eu-west-1", "ap-southeast-2")),
}
STACKS = {
    "EdgeDomain": ("EdgeDomainOriginUsEast1", "EdgeDomainOriginEuWest1", "EdgeDomainAccelerator", "EdgeDomainStack"),
    "EdgeAccel": ("EdgeAccelOriginUsEast1", "EdgeAccelOriginEuWest1", "EdgeAccelOriginApSoutheast2",
                  "EdgeAccelAccelerator", "EdgeAccelStack"),
}

_built: dict[tuple[int, str], dict[str, cdk.Stack]] = {}


def _factory(prefix: str, stack_id: str) -> Callable[[cdk.App], cdk.Stack]:
    def factory(app: cdk.App) -> cdk.Stack:
        key = (id(app), prefix)
        if key not in _built:
            _built[key] = build_edge(app, prefix, **CONFIGS[prefix])
            assert sorted(_built[key]) == sorted(STACKS[prefix])
        return _built[key][stack_id]

    return factory


CASES = {stack_id: _factory(prefix, stack_id) for prefix, ids in STACKS.items() for stack_id in ids}
