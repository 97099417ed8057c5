//! Regenerates `include/shmmetrics.h` from `src/ffi/` (the only C-visible module) and sets
//! the shared library's soname. The header is committed; `make check-header` fails on drift.
//!
//! The soname is `libshmmetrics.so.MAJOR`, so a program linked with `-lshmmetrics` asks the
//! loader for that file. `make install` installs it; for programs linked against the build
//! tree (`-Ltarget/release`, Go's cgo, Rust users of the cdylib) this script puts the link
//! `libshmmetrics.so.MAJOR -> libshmmetrics.so` beside the library, so that a plain
//! `cargo build --release` leaves a tree programs can run from.

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/error.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libshmmetrics.so.{major}");
    soname_link(&major);

    let config = cbindgen::Config::from_file("cbindgen.toml").expect("read cbindgen.toml");
    match cbindgen::Builder::new().with_config(config).with_src("src/error.rs").with_src("src/ffi/mod.rs").generate() {
        Ok(bindings) => {
            bindings.write_to_file("include/shmmetrics.h");
        }
        // A syntax error in src/ffi/ is reported better by rustc than by cbindgen.
        Err(cbindgen::Error::ParseSyntaxError { .. }) => {}
        Err(e) => panic!("cbindgen: {e}"),
    }
}

/// OUT_DIR is `<target>/<profile>/build/<pkg>-<hash>/out`; the library lands in `<profile>`.
fn soname_link(major: &str) {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let Some(profile_dir) = out.ancestors().nth(3) else { return };
    let link = profile_dir.join(format!("libshmmetrics.so.{major}"));
    if std::fs::read_link(&link).is_err() {
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink("libshmmetrics.so", &link);
    }
}
