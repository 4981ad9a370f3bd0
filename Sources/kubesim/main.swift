// The kubesim executable: see Sources/KubeSim. (Being built; issue 2.)
print("kubesim: not built yet")
