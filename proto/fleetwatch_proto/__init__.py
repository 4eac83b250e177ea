"""fleetwatch wire contract: protobuf messages and gRPC stubs, generated and committed."""
