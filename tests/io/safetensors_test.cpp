// io/safetensors.hpp: exact bytes of a small file (oracle: the format's specification), round trips of
// state_dicts with dotted names, and whole error messages for malformed headers and layouts.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cstring>

#include "io_test_util.hpp"

using namespace latent;
using latent_io_test::raw;
using latent_io_test::io_error_detail;
using latent_io_test::read_bytes;
using latent_io_test::TempDir;
using latent_io_test::write_bytes;

namespace {

/// A safetensors file by hand: 8-byte little-endian header length, the header, the data.
std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out;
  for (int b = 0; b < 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xFF);
  return out + header + data;
}

template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(T)) == 0;
}

}  // namespace

TEST_CASE("save_safetensors writes the specified layout: length, JSON header padded to 8 bytes, data", "[io][safetensors]") {
  TempDir dir;
  StateDict sd;
  sd.set("layer.w", from_vector<float>({1.0f, -2.0f}, {2}));
  sd.set("n", from_vector<std::int64_t>({3}, {1}));
  io::save_safetensors(dir / "a.safetensors", sd, {{"model", "tiny"}});
  const std::string header =
      "{\"__metadata__\":{\"latent_version\":\"" LATENT_VERSION_STRING "\",\"model\":\"tiny\"},"
      "\"layer.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  CHECK(read_bytes(dir / "a.safetensors") == st_bytes(padded, raw<float>({1.0f, -2.0f}) + raw<std::int64_t>({3})));
  CHECK(dir.files() == std::vector<std::string>{"a.safetensors"});  // no temporary file left
}

TEST_CASE("safetensors round-trips float32, float64 and int64 tensors of any rank with metadata", "[io][safetensors]") {
  TempDir dir;
  StateDict sd;
  sd.set("encoder.fc1.weight", from_vector<float>({0.5f, -0.0f, 1e-45f, 3.4e38f, -1.0f, 2.0f}, {2, 3}));
  auto scalar = Tensor<double>::empty({});
  *scalar.data() = 0.1;
  sd.set("encoder.scale", scalar);
  sd.set("decoder.ids", from_vector<std::int64_t>({-1, INT64_MAX, 0, 7}, {2, 1, 2}));
  sd.set("decoder.empty", Tensor<float>::empty({0, 4}));
  const io::Metadata meta{{"config", "{\"hidden\": [64, 64], \"name\": \"vae\"}"},
                          {"note", "tab\tnewline\nquote\" backslash\\ control\x01 unicode \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}};
  io::save_safetensors(dir / "m.safetensors", sd, meta);
  const io::SafetensorsFile f = io::load_safetensors(dir / "m.safetensors");

  io::Metadata expected_meta = meta;
  expected_meta["latent_version"] = LATENT_VERSION_STRING;
  CHECK(f.metadata == expected_meta);
  REQUIRE(f.tensors.size() == 4);
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"encoder.fc1.weight", "encoder.scale", "decoder.ids", "decoder.empty"});
  CHECK(same_bits(f.tensors.get<float>("encoder.fc1.weight"), sd.get<float>("encoder.fc1.weight")));
  CHECK(f.tensors.get<double>("encoder.scale").shape() == Shape{});
  CHECK(f.tensors.get<double>("encoder.scale").item() == 0.1);
  CHECK(same_bits(f.tensors.get<std::int64_t>("decoder.ids"), sd.get<std::int64_t>("decoder.ids")));
  CHECK(f.tensors.get<float>("decoder.empty").shape() == Shape{0, 4});

  // Saving over an existing file replaces it.
  StateDict other;
  other.set("x", from_vector<double>({4.0}, {1}));
  io::save_safetensors(dir / "m.safetensors", other);
  const auto g = io::load_safetensors(dir / "m.safetensors");
  CHECK(g.tensors.size() == 1);
  CHECK(g.tensors.get<double>("x").item() == 4.0);
  CHECK(g.metadata == io::Metadata{{"latent_version", LATENT_VERSION_STRING}});
}

TEST_CASE("a module's state_dict round-trips through safetensors into a fresh module", "[io][safetensors]") {
  TempDir dir;
  Rng rng(3), other_rng(4);
  nn::MLP<float> saved({.in = 3, .hidden = {8, 8}, .out = 2}, rng);
  io::save_safetensors(dir / "mlp.safetensors", saved.state_dict(), {{"config", "MLP(3, [8, 8], 2)"}});
  nn::MLP<float> loaded({.in = 3, .hidden = {8, 8}, .out = 2}, other_rng);
  const auto f = io::load_safetensors(dir / "mlp.safetensors");
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"});
  loaded.load_state_dict(f.tensors);
  const auto a = saved.named_parameters(), b = loaded.named_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(same_bits(a[i].second, b[i].second));
  }
  // A float64 twin cannot silently take float32 weights.
  nn::MLP<double> twin({.in = 3, .hidden = {8, 8}, .out = 2}, other_rng);
  REQUIRE_THROWS_WITH(twin.load_state_dict(f.tensors),
                      "[latent.state] load_state_dict: '0.weight' is float32 in the state_dict, the module expects float64");
}

TEST_CASE("load_safetensors rejects malformed files naming the file, the byte offset and the problem", "[io][safetensors][errors]") {
  TempDir dir;
  auto message = [&](const std::string& name, const std::string& bytes) {
    return io_error_detail("load_safetensors", write_bytes(dir / name, bytes),
                           [](const std::string& p) { io::load_safetensors(p); });
  };
  const std::string f32x2 = raw<float>({1.0f, 2.0f});
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };

  // Lengths.
  CHECK(message("short", "abc") == "byte 0: file has 3 bytes, too short for the 8-byte header length");
  CHECK(message("past_end", st_bytes("{}", "").substr(0, 9)) == "byte 0: header length 2 runs past the end of the file (9 bytes)");
  CHECK(message("limit", std::string("\x00\x00\x00\x00\x01\x00\x00\x00{}", 10)) ==
        "byte 0: header length 4294967296 exceeds the limit of 100000000 bytes (is this a safetensors file?)");
  // JSON syntax.
  CHECK(message("not_object", st_bytes("[1, 2]", "")) == "byte 8: the header is not a JSON object");
  CHECK(message("cut_json", st_bytes("{\"a\":{\"dtype\":\"F3", "")) == "byte 25: the header ends inside its JSON");
  CHECK(message("trailing", st_bytes("{} x", "")) == "byte 11: unexpected text after the header's JSON object");
  CHECK(message("no_colon", st_bytes("{\"a\" 1}", "")) == "byte 13: expected ':' after the key \"a\"");
  CHECK(message("bad_escape", st_bytes("{\"__metadata__\":{\"k\":\"\\q\"}}", "")) == "byte 30: bad escape in a JSON string");
  CHECK(message("surrogate", st_bytes("{\"__metadata__\":{\"k\":\"\\ud800x\"}}", "")) ==
        "byte 30: unpaired surrogate in a JSON string");
  CHECK(message("utf8", st_bytes("{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", "")) == "byte 30: invalid UTF-8 in a JSON string");
  CHECK(message("control", st_bytes("{\"__metadata__\":{\"k\":\"a\nb\"}}", "")) == "byte 31: control character in a JSON string");
  CHECK(message("meta_number", st_bytes("{\"__metadata__\":{\"k\":1}}", "")) ==
        "byte 29: \"__metadata__\" value of \"k\" is not a string");
  CHECK(message("meta_twice", st_bytes("{\"__metadata__\":{},\"__metadata__\":{}}", "")) ==
        "byte 27: duplicate key \"__metadata__\"");
  // Tensor entries.
  CHECK(message("duplicate", st_bytes("{" + entry("w", "F32", "[1]", "[0,4]") + "," + entry("w", "F32", "[1]", "[4,8]") + "}", f32x2)) ==
        "byte 62: duplicate tensor name \"w\" (first at byte 9)");
  CHECK(message("dtype", st_bytes("{" + entry("w", "F16", "[4]", "[0,8]") + "}", f32x2)) ==
        "byte 22: tensor \"w\" has dtype \"F16\"; latent reads F32, F64 and I64");
  CHECK(message("unknown_field", st_bytes("{\"w\":{\"dtype\":\"F32\",\"strides\":[1]}}", f32x2)) ==
        "byte 28: tensor \"w\" has an unknown field \"strides\"");
  CHECK(message("missing_offsets", st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", f32x2)) ==
        "byte 9: tensor \"w\" lacks data_offsets");
  CHECK(message("negative", st_bytes("{" + entry("w", "F32", "[-2]", "[0,8]") + "}", f32x2)) ==
        "byte 37: tensor \"w\" shape must be an array of non-negative integers");
  CHECK(message("fraction", st_bytes("{" + entry("w", "F32", "[2.0]", "[0,8]") + "}", f32x2)) ==
        "byte 37: tensor \"w\" shape must be an array of non-negative integers");
  CHECK(message("leading_zero", st_bytes("{" + entry("w", "F32", "[02]", "[0,8]") + "}", f32x2)) ==
        "byte 37: numbers must not have leading zeros");
  CHECK(message("rank9", st_bytes("{" + entry("w", "F32", "[1,1,1,1,1,1,1,1,2]", "[0,8]") + "}", f32x2)) ==
        "byte 36: tensor \"w\" has 9 dimensions; at most 8 are supported (LATENT_MAX_RANK)");
  CHECK(message("backwards", st_bytes("{" + entry("w", "F32", "[2]", "[8,0]") + "}", f32x2)) ==
        "byte 55: tensor \"w\" data_offsets [8, 0] end before they begin");
  CHECK(message("three_offsets", st_bytes("{" + entry("w", "F32", "[2]", "[0,4,8]") + "}", f32x2)) ==
        "byte 55: tensor \"w\" data_offsets must be [begin, end]");
}

TEST_CASE("load_safetensors checks sizes, bounds, overlaps and gaps of the data section", "[io][safetensors][errors]") {
  TempDir dir;
  auto message = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write_bytes(dir / name, bytes);
    try {
      io::load_safetensors(path);
    } catch (const IoError& e) {
      return std::string(e.what()).substr(std::string("[latent.io] load_safetensors: " + path + ": ").size());
    }
    return std::string("no error");
  };
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  const std::string data16 = raw<float>({1, 2, 3, 4});

  CHECK(message("size", st_bytes("{" + entry("w", "F64", "[3]", "[0,16]") + "}", data16)) ==
        "byte 9: tensor \"w\" F64 [3] needs 24 bytes but its data_offsets [0, 16] hold 16");
  CHECK(message("bounds", st_bytes("{" + entry("w", "F32", "[6]", "[0,24]") + "}", data16)) ==
        "byte 9: tensor \"w\" data_offsets [0, 24] run past the end of the data (16 bytes)");
  CHECK(message("overlap", st_bytes("{" + entry("a", "F32", "[3]", "[0,12]") + "," + entry("b", "F32", "[2]", "[8,16]") + "}", data16)) ==
        "byte 63: tensor \"b\" data_offsets [8, 16] overlap tensor \"a\" [0, 12]");
  CHECK(message("gap", st_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[2]", "[8,16]") + "}", data16)) ==
        "byte 120: data bytes [4, 8) belong to no tensor");
  CHECK(message("tail", st_bytes("{" + entry("a", "F32", "[3]", "[0,12]") + "}", data16)) ==
        "byte 75: data bytes [12, 16) belong to no tensor");
  // 2^62 × 2^62 × 4 bytes overflows 64 bits; the loader must not wrap around to a small size.
  CHECK(message("overflow", st_bytes("{" + entry("w", "F32", "[4611686018427387904,4611686018427387904]", "[0,16]") + "}", data16)) ==
        "byte 9: tensor \"w\" [4611686018427387904,4611686018427387904] has more elements than 64-bit sizes can count");
  CHECK(message("overflow_zero", st_bytes("{" + entry("w", "F32", "[4611686018427387904,4,0]", "[0,0]") + "}", "")) ==
        "byte 9: tensor \"w\" [4611686018427387904,4,0] has more elements than 64-bit sizes can count");
  const auto missing = dir / "absent.safetensors";
  REQUIRE_THROWS_WITH(io::load_safetensors(missing), "[latent.io] load_safetensors: cannot open " + missing);
  // A valid file with the same bytes loads, so the checks above are not rejecting everything.
  CHECK(message("valid", st_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[3]", "[4,16]") + "}", data16)) ==
        "no error");
}

TEST_CASE("parse_safetensors reads an in-memory file; save_safetensors rejects reserved names", "[io][safetensors]") {
  const std::string bytes = st_bytes("{\"t\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}  ", raw<std::int64_t>({-9}));
  const auto f = io::parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "memory");
  CHECK(f.tensors.get<std::int64_t>("t").item() == -9);
  CHECK(f.metadata.empty());
  REQUIRE_THROWS_WITH(io::parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size() - 1)), "memory"),
                      "[latent.io] load_safetensors: memory: byte 9: tensor \"t\" data_offsets [0, 8] run past the end of the data (7 bytes)");
  TempDir dir;
  StateDict sd;
  sd.set("__metadata__", zeros<float>({1}));
  REQUIRE_THROWS_WITH(io::save_safetensors(dir / "x.safetensors", sd),
                      "[latent.value] save_safetensors: " + (dir / "x.safetensors") + ": invalid tensor name \"__metadata__\"");
  CHECK(dir.files().empty());
}
