"""SNMP for fleetwatch: one poller (system group, IF-MIB) and one trap receiver, for agent and collector."""
