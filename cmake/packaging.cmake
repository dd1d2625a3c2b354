# SPDX-License-Identifier: Apache-2.0
# cmake/packaging.cmake: `cmake --install` rules and the CPack .deb packages (docs/install.md).
#
# Components (cmake --install build --component NAME; one .deb each with `cpack -G DEB`):
#   tools    fastwake-sim, fastwake-bench (loopback, calibrate, compare, the verbs replay
#            server/client)                                              -> fastwake-tools
#   simgrid  fastwake-sim-fabric, the SimGrid fabric's driver (SimGrid builds; needs
#            libsimgrid, so not in fastwake-tools, which lab hosts install) -> fastwake-simgrid
#   preload  libfastwake-preload.so, the LD_PRELOAD shim                   -> fastwake-preload
#   dkms     the kernel module's sources + dkms.conf in src/fastwake-VER/ -> fastwake-dkms
#   python   the fastwake package, its native module and data, bin/fastwake -> python3-fastwake
include(GNUInstallDirs)

# --- tools ------------------------------------------------------------------
install(TARGETS fastwake-sim fastwake-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT tools)
set(_fw_components tools)
if(TARGET fastwake-sim-fabric)
  install(TARGETS fastwake-sim-fabric RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT simgrid)
  list(APPEND _fw_components simgrid)
endif()

# --- preload shim -------------------------------------------------------------
if(TARGET fastwake-preload)
  # In the library directory (/usr/lib in the .deb), so LD_PRELOAD=libfastwake-preload.so
  # finds it by name.
  install(TARGETS fastwake-preload LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT preload
          NAMELINK_SKIP)
  list(APPEND _fw_components preload)
endif()

# --- DKMS source tree of fastwake.ko ---------------------------------------------
# /usr/src/fastwake-VERSION/ is where dkms(8) looks for `dkms add -m fastwake -v VERSION`.
set(FW_DKMS_CONF ${PROJECT_BINARY_DIR}/kmod/dkms.conf)
configure_file(${PROJECT_SOURCE_DIR}/kmod/dkms.conf.in ${FW_DKMS_CONF} @ONLY)
set(_fw_dkms_dir src/fastwake-${PROJECT_VERSION})
install(FILES ${PROJECT_SOURCE_DIR}/kmod/Kbuild ${PROJECT_SOURCE_DIR}/kmod/Makefile
              ${PROJECT_SOURCE_DIR}/kmod/fastwake.c ${PROJECT_SOURCE_DIR}/kmod/LICENSE
              ${FW_DKMS_CONF}
        DESTINATION ${_fw_dkms_dir} COMPONENT dkms)
install(FILES ${PROJECT_SOURCE_DIR}/kmod/uapi/fastwake.h DESTINATION ${_fw_dkms_dir}/uapi COMPONENT dkms)
list(APPEND _fw_components dkms)

# --- Python package ---------------------------------------------------------------
if(TARGET _fastwake)
  # Relative to the prefix: lib/python3.X/dist-packages on Debian (on sys.path for both
  # /usr and /usr/local), lib/python3.X/site-packages elsewhere.
  execute_process(
    COMMAND ${FASTWAKE_PYTHON} -c "import sys, sysconfig; v='%d.%d' % sys.version_info[:2]; print('lib/python%s/%s' % (v, 'dist-packages' if 'deb_system' in sysconfig.get_scheme_names() else 'site-packages'))"
    OUTPUT_VARIABLE _fw_pydir OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${FASTWAKE_PYTHON} -c "import sys; print('%d.%d;%d.%d' % (sys.version_info[:2] + (sys.version_info[0], sys.version_info[1] + 1)))"
                  OUTPUT_VARIABLE _fw_pyver OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(GET _fw_pyver 0 _fw_pyver_this)
  list(GET _fw_pyver 1 _fw_pyver_next)
  set(FASTWAKE_INSTALL_PYTHONDIR "${_fw_pydir}" CACHE STRING
      "Where `cmake --install` puts the fastwake package, relative to the prefix")
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/fastwake DESTINATION ${FASTWAKE_INSTALL_PYTHONDIR}
          COMPONENT python FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
  install(TARGETS _fastwake LIBRARY DESTINATION ${FASTWAKE_INSTALL_PYTHONDIR}/fastwake COMPONENT python)
  # Package data: the same tree as in the repository (fastwake._native.DATA).
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs ${PROJECT_SOURCE_DIR}/experiments
          DESTINATION ${FASTWAKE_INSTALL_PYTHONDIR}/fastwake/data COMPONENT python
          PATTERN "host-*.json" EXCLUDE PATTERN "__pycache__" EXCLUDE)
  # bin/fastwake: finds the package relative to itself, so any prefix works.
  configure_file(${PROJECT_SOURCE_DIR}/python/fastwake-launcher.in ${PROJECT_BINARY_DIR}/python/fastwake-launcher @ONLY)
  install(PROGRAMS ${PROJECT_BINARY_DIR}/python/fastwake-launcher DESTINATION ${CMAKE_INSTALL_BINDIR}
          RENAME fastwake COMPONENT python)
  list(APPEND _fw_components python)
endif()

# --- CPack: one .deb per component (cpack -G DEB in the build directory) ---------------
set(CPACK_PACKAGE_NAME fastwake)
set(CPACK_PACKAGE_VENDOR "FastWake maintainers")
set(CPACK_PACKAGE_CONTACT "FastWake maintainers <maintainers@users.noreply.r-seed-40b87ef4.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FastWake: interrupt-mode RDMA wake-up strategies")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_COMPONENTS_ALL ${_fw_components})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Binaries without their debug sections (a RelWithDebInfo build's tools are ~80 MB otherwise).
set(CPACK_STRIP_FILES ON)
# Shared-library dependencies (libibverbs1, libsimgrid, libstdc++6, libc6) from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME fastwake-tools)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "FastWake tools: fastwake-sim (host model), fastwake-bench (loopback runs, calibration,\n compare, verbs replay server/client on real RDMA NICs)")
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "rdma-core, ibverbs-providers")

set(CPACK_DEBIAN_SIMGRID_PACKAGE_NAME fastwake-simgrid)
set(CPACK_COMPONENT_SIMGRID_DESCRIPTION
    "FastWake SimGrid fabric driver (fastwake-sim-fabric): multi-host networks for the simulator")
set(CPACK_DEBIAN_SIMGRID_PACKAGE_DEPENDS "fastwake-tools (= ${PROJECT_VERSION})")

set(CPACK_DEBIAN_PRELOAD_PACKAGE_NAME fastwake-preload)
set(CPACK_COMPONENT_PRELOAD_DESCRIPTION
    "FastWake LD_PRELOAD shim for unmodified verbs programs (libfastwake-preload.so)")
# The shim resolves libibverbs' symbols with dlvsym at run time: no DT_NEEDED, so say it.
set(CPACK_DEBIAN_PRELOAD_PACKAGE_DEPENDS "libibverbs1")
set(CPACK_DEBIAN_PRELOAD_PACKAGE_RECOMMENDS "ibverbs-providers")

set(CPACK_DEBIAN_DKMS_PACKAGE_NAME fastwake-dkms)
set(CPACK_COMPONENT_DKMS_DESCRIPTION
    "FastWake kernel module fastwake.ko (/dev/fastwake) as DKMS sources, built for the host's kernel")
set(CPACK_DEBIAN_DKMS_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_DKMS_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_DKMS_PACKAGE_DEPENDS "dkms (>= 2.1), make")
set(CPACK_DEBIAN_DKMS_PACKAGE_RECOMMENDS "linux-headers-amd64 | linux-headers-generic")
configure_file(${PROJECT_SOURCE_DIR}/kmod/debian/postinst.in ${PROJECT_BINARY_DIR}/kmod/debian/postinst @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/kmod/debian/prerm.in ${PROJECT_BINARY_DIR}/kmod/debian/prerm @ONLY)
set(CPACK_DEBIAN_DKMS_PACKAGE_CONTROL_EXTRA
    "${PROJECT_BINARY_DIR}/kmod/debian/postinst;${PROJECT_BINARY_DIR}/kmod/debian/prerm")
set(CPACK_DEBIAN_DKMS_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-fastwake)
set(CPACK_COMPONENT_PYTHON_DESCRIPTION
    "FastWake Python package: simulator bindings, sweeps, figures; the fastwake command")
# The native module is built for one Python ABI (cpython-3XY).
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
    "python3 (>= ${_fw_pyver_this}~), python3 (<< ${_fw_pyver_next}), python3-numpy, python3-pandas, python3-matplotlib")
set(CPACK_DEBIAN_PYTHON_PACKAGE_RECOMMENDS "python3-tqdm, fastwake-tools")

include(CPack)
