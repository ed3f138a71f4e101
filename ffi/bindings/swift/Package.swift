// swift-tools-version:5.9
// Swift package of Aurora DB: the generated UniFFI bindings (AuroraFFI.swift, beside this file)
// over libaurora_ffi, which comes as an XCFramework holding the static library, AuroraFFIFFI.h
// and its module map. Build AuroraFFIFFI.xcframework next to this file with the recipe in
// docs/RELEASING.md ("Swift"); neither it nor this package can be built on our Linux machines.
import PackageDescription

let package = Package(
    name: "AuroraFFI",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [.library(name: "AuroraFFI", targets: ["AuroraFFI"])],
    targets: [
        .binaryTarget(name: "AuroraFFIFFI", path: "AuroraFFIFFI.xcframework"),
        .target(
            name: "AuroraFFI",
            dependencies: ["AuroraFFIFFI"],
            path: ".",
            exclude: ["AuroraFFIFFI.h", "AuroraFFIFFI.modulemap", "AuroraFFIFFI.xcframework"],
            sources: ["AuroraFFI.swift"]
        ),
    ]
)
