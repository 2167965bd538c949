"""The data contract, pure: a raw payload becomes typed rows or a rejection with its reason; the tables' names, columns and types; rows to arrow. One module per dataset."""
