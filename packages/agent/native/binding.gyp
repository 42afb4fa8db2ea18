{
  "targets": [
    {
      "target_name": "falconet_native",
      "sources": ["falconet.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
