print("meshform: not yet")
