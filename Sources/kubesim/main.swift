print("kubesim: not yet")
