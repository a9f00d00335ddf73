# Built by native/build.mjs (npm "install" script) with npm's bundled node-gyp.
# C++17: -std=gnu++17 comes from node's common.gypi. C++ exceptions are
# enabled to match NAPI_CPP_EXCEPTIONS (errors become JS exceptions).
{
  "targets": [
    {
      "target_name": "multiproc_mmap",
      "sources": ["mmap.cc", "mmap_core.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }]
      ]
    }
  ]
}
