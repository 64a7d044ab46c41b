{
  "targets": [
    {
      "target_name": "bucketfs_fuse",
      "sources": [
        "native/addon.c",
        "native/lowlevel_ops.c",
        "native/request_registry.c",
        "native/notifier.c",
        "native/cache_read.c",
        "native/whole_block.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(sh native/fuse-flags.sh)"],
      "libraries": ["<!@(sh native/engine-libs.sh)"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "bucketfs_cache_fill",
      "sources": ["native/cache_fill.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-ldeflate"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "bucketfs_process",
      "sources": ["native/process/process_tools.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
