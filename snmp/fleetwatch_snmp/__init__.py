"""SNMP for fleetwatch: one poller (system group, IF-MIB) and one trap receiver, shared by the agent and the collector."""
