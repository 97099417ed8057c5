//! Regenerates `include/shmmetrics.h` from `src/ffi.rs` (the only C-visible module) and sets
//! the shared library's soname. The header is committed; `make check-header` fails on drift.

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=src/error.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libshmmetrics.so.{major}");

    let config = cbindgen::Config::from_file("cbindgen.toml").expect("read cbindgen.toml");
    match cbindgen::Builder::new().with_config(config).with_src("src/error.rs").with_src("src/ffi.rs").generate() {
        Ok(bindings) => {
            bindings.write_to_file("include/shmmetrics.h");
        }
        // A syntax error in ffi.rs is reported better by rustc than by cbindgen.
        Err(cbindgen::Error::ParseSyntaxError { .. }) => {}
        Err(e) => panic!("cbindgen: {e}"),
    }
}
