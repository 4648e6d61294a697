{
  "variables": {
    # WEFT_SANITIZE=1 npm run build:native builds with AddressSanitizer + UBSan (test/asan.sh).
    "sanitize%": "<!(node -p \"process.env.WEFT_SANITIZE === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "weft",
      "sources": [
        "native/core/checksum.cc",
        "native/core/codec.cc",
        "native/core/counters.cc",
        "native/core/decap.cc",
        "native/core/encap.cc",
        "native/core/engine.cc",
        "native/core/handoff_linux.cc",
        "native/core/offload.cc",
        "native/core/table.cc",
        "native/core/tun_linux.cc",
        "native/core/udp_socket_linux.cc",
        "native/core/worker.cc",
        "native/binding/addon.cc",
        "native/binding/codec_exports.cc",
        "native/binding/engine_wrap.cc",
        "native/binding/errors.cc",
        "native/binding/handoff_exports.cc",
        "native/binding/table_wrap.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-fno-rtti"],
      "cflags_cc": [
        "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fno-exceptions",
        "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-O2"
      ],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "conditions": [
        ["sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
