// Training checkpoints: model, optimizer state, EMA weights, random-generator states and the step in one
// safetensors file, so that resuming continues bit for bit as if training had not stopped.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/state_dict.hpp"
#include "safetensors.hpp"

namespace latent::io {

/// Everything a training loop needs to resume. The file holds
///   model.<name>, optimizer.<name>, ema.<name>   the three state_dicts (optimizer and ema may be empty)
///   rng                                          int64 [3]: seed, counter, index of the main Rng (bit patterns)
///   rngs.<name>                                  int64 [3]: other generators (e.g. a Dropout layer's, by its
///                                                module name), same layout
///   step                                         int64 0-d
/// and the metadata `config` plus {"latent_version", "latent_checkpoint": "1"} (the layout's version).
struct TrainingCheckpoint {
  StateDict model{};
  StateDict optimizer{};
  StateDict ema{};
  Rng::State rng{};
  std::map<std::string, Rng::State> rngs{};
  std::int64_t step = 0;
  Metadata config{};
};

inline constexpr const char* checkpoint_format_key = "latent_checkpoint";
inline constexpr const char* checkpoint_format_version = "1";

namespace detail {

inline Tensor<std::int64_t> rng_state_tensor(const Rng::State& s) {
  auto t = Tensor<std::int64_t>::empty({3});
  const std::uint64_t words[3] = {s.seed, s.counter, s.index};
  std::memcpy(t.data(), words, sizeof words);  // uint64 bit patterns in int64 slots
  return t;
}

inline Rng::State rng_state_from(const StateDict& sd, const std::string& key, const std::string& file) {
  const AnyTensor& any = sd.at(key);
  LATENT_CHECK(std::holds_alternative<Tensor<std::int64_t>>(any) && shape_of(any) == Shape{3}, IoError,
               "load_training_checkpoint: " + file + ": \"" + key + "\" is " + dtype_of(any) + " " +
                   shape_of(any).str() + ", expected int64 [3] (seed, counter, index)");
  std::uint64_t words[3];
  std::memcpy(words, std::get<Tensor<std::int64_t>>(any).data(), sizeof words);
  LATENT_CHECK(words[2] <= 4, IoError,
               "load_training_checkpoint: " + file + ": \"" + key + "\" has index " + std::to_string(words[2]) +
                   " (at most 4)");
  return {words[0], words[1], static_cast<std::uint32_t>(words[2])};
}

}  // namespace detail

/// Saves `checkpoint` atomically (see save_safetensors): a crash during the save leaves the previous file.
inline void save_training_checkpoint(const std::filesystem::path& path, const TrainingCheckpoint& checkpoint) {
  for (const char* reserved : {metadata_version_key, checkpoint_format_key})
    LATENT_CHECK(!checkpoint.config.count(reserved), ValueError,
                 "save_training_checkpoint: " + path.string() + ": config key \"" + reserved + "\" is reserved");
  StateDict all;
  all.merge("model", checkpoint.model);
  all.merge("optimizer", checkpoint.optimizer);
  all.merge("ema", checkpoint.ema);
  all.set("rng", detail::rng_state_tensor(checkpoint.rng));
  for (const auto& [name, state] : checkpoint.rngs) {
    LATENT_CHECK(!name.empty(), ValueError, "save_training_checkpoint: " + path.string() + ": an extra Rng has an empty name");
    all.set("rngs." + name, detail::rng_state_tensor(state));
  }
  auto step = Tensor<std::int64_t>::empty({});
  *step.data() = checkpoint.step;
  all.set("step", step);
  Metadata meta = checkpoint.config;
  meta[checkpoint_format_key] = checkpoint_format_version;
  save_safetensors(path, all, meta);
}

/// Loads a file written by save_training_checkpoint, checking its layout version, the rng and step entries
/// and that every tensor belongs to one of the sections above. The StateDicts are then loaded into fresh
/// objects with their own load_state_dict (which check names and shapes).
inline TrainingCheckpoint load_training_checkpoint(const std::filesystem::path& path) {
  const std::string file = path.string();
  SafetensorsFile f = load_safetensors(path);
  auto format = f.metadata.find(checkpoint_format_key);
  LATENT_CHECK(format != f.metadata.end(), IoError,
               "load_training_checkpoint: " + file + ": no \"" + checkpoint_format_key +
                   "\" metadata; not a training checkpoint (load_safetensors reads plain state_dicts)");
  LATENT_CHECK(format->second == checkpoint_format_version, IoError,
               "load_training_checkpoint: " + file + ": checkpoint layout version \"" + format->second +
                   "\" is not supported (this latent reads \"" + checkpoint_format_version + "\")");
  TrainingCheckpoint c;
  for (const auto& [name, t] : f.tensors) {
    auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
    if (starts("model.")) c.model.set(name.substr(6), t);
    else if (starts("optimizer.")) c.optimizer.set(name.substr(10), t);
    else if (starts("ema.")) c.ema.set(name.substr(4), t);
    else if (starts("rngs.")) c.rngs[name.substr(5)] = detail::rng_state_from(f.tensors, name, file);
    else if (name != "rng" && name != "step")
      throw IoError("load_training_checkpoint: " + file + ": unexpected tensor \"" + name +
                    "\" (expected model.*, optimizer.*, ema.*, rng, rngs.* and step)");
  }
  LATENT_CHECK(f.tensors.contains("rng"), IoError, "load_training_checkpoint: " + file + ": no \"rng\" entry");
  LATENT_CHECK(f.tensors.contains("step"), IoError, "load_training_checkpoint: " + file + ": no \"step\" entry");
  c.rng = detail::rng_state_from(f.tensors, "rng", file);
  const AnyTensor& step = f.tensors.at("step");
  LATENT_CHECK(std::holds_alternative<Tensor<std::int64_t>>(step) && shape_of(step).rank() == 0, IoError,
               "load_training_checkpoint: " + file + ": \"step\" is " + dtype_of(step) + " " + shape_of(step).str() +
                   ", expected int64 []");
  c.step = std::get<Tensor<std::int64_t>>(step).item();
  c.config = std::move(f.metadata);
  c.config.erase(checkpoint_format_key);
  c.config.erase(metadata_version_key);
  return c;
}

}  // namespace latent::io
