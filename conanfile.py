# A Conan 2 recipe for mproc, built from this checkout:
#   conan create . --build=missing
#   conan create . -o "mproc/*:shared=True"
# It cannot be run in this project's CI (no Conan there); keep its options in
# step with CMakeLists.txt, and its version with project(VERSION) (the
# layout.versions_agree test checks the version).
from conan import ConanFile
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy
from conan.tools.gnu import PkgConfigDeps


class MprocConan(ConanFile):
    name = "mproc"
    version = "0.1.0"
    description = "Python's multiprocessing for C, on Windows and Unix alike"
    topics = ("multiprocessing", "ipc", "processes", "queue", "c")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    # shared: BUILD_SHARED_LIBS; glibc_fast_lock: MPROC_LOCK_GLIBC_FAST (the
    # Lock's fast path on glibc's robust futex list; off without glibc).
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "glibc_fast_lock": [True, False],
    }
    default_options = {"shared": False, "fPIC": True, "glibc_fast_lock": True}
    exports_sources = (
        "CMakeLists.txt",
        "cmake/*",
        "include/*",
        "src/*",
        "platform/*",
        "README.md",
    )

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC
            del self.options.glibc_fast_lock

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")
        # A C library: no C++ standard library to choose.
        self.settings.rm_safe("compiler.libcxx")
        self.settings.rm_safe("compiler.cppstd")

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # The pkg-config modules cmake/MprocDependencies.cmake asks for:
        # apr-1, msgpack (msgpack-c before 6.0 names its module so), libsodium;
        # zlib through find_package(ZLIB).
        self.requires("apr/1.7.4")
        self.requires("msgpack-c/4.0.0")
        self.requires("libsodium/1.0.19")
        self.requires("zlib/[>=1.2.11 <2]")

    def validate(self):
        from conan.errors import ConanInvalidConfiguration

        if self.settings.os not in ("Linux", "Windows"):
            raise ConanInvalidConfiguration("mproc runs on Linux and Windows only")

    def generate(self):
        tc = CMakeToolchain(self)
        # The tests, examples, benchmarks and fuzz harnesses are not part of
        # a package.
        tc.cache_variables["MPROC_BUILD_TESTS"] = False
        tc.cache_variables["MPROC_BUILD_EXAMPLES"] = False
        tc.cache_variables["MPROC_BUILD_BENCH"] = False
        tc.cache_variables["MPROC_FUZZ"] = False
        tc.cache_variables["BUILD_SHARED_LIBS"] = bool(self.options.shared)
        if "glibc_fast_lock" in self.options:
            tc.cache_variables["MPROC_LOCK_GLIBC_FAST"] = bool(
                self.options.glibc_fast_lock
            )
        tc.generate()
        CMakeDeps(self).generate()
        # On Linux and mingw the build finds its dependencies with pkg-config.
        PkgConfigDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        cmake = CMake(self)
        cmake.install()
        copy(self, "README.md", self.source_folder, self.package_folder + "/licenses")

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "mproc")
        self.cpp_info.set_property("cmake_target_name", "mproc::mproc")
        self.cpp_info.set_property("pkg_config_name", "mproc")
        self.cpp_info.libs = ["mproc"]
        if not self.options.shared:
            self.cpp_info.defines = ["MPROC_STATIC"]
        if self.settings.os == "Linux":
            self.cpp_info.system_libs = ["pthread"]
        elif self.settings.os == "Windows":
            self.cpp_info.system_libs = ["ws2_32", "rpcrt4", "advapi32", "shell32"]
