// digit_classifier: trains metrics::DigitClassifier (a small CNN: conv 32, conv 64, fc 128, fc 10) on the 9,000
// training images of the shipped MNIST-10k and saves it; diffusion_mnist and the GAN examples judge their samples
// with it (class accuracy, Fréchet distance in its 128-d feature space). Prints the accuracy on the 1,000 held-out
// images (every 10th image of the file).
//
//   build/release/examples/digit_classifier --out runs/classifier     (about a minute on one core)
//
// Writes to --out: digit_classifier.safetensors (metadata: held-out accuracy, steps, seed), log.csv (step, loss).
#include <latent/latent.hpp>
#include <latent/io/log.hpp>
#include <latent/io/safetensors.hpp>
#include <latent/metrics/digit_classifier.hpp>

#include "common/args.hpp"

#include <chrono>
#include <cstdio>
#include <string>

using namespace latent;

int main(int argc, char** argv) {
  metrics::DigitTrainOptions train;
  int steps = static_cast<int>(train.steps);
  std::uint64_t seed = 0;
  int threads = 1;
  std::string out = "digit_classifier-out";
  examples::Args args("digit_classifier", "Trains the digit classifier used by the image examples' metrics.");
  args.option("--steps", steps, "Adam steps of batch 64 (cosine learning-rate decay)")
      .option("--lr", train.lr, "Adam's initial learning rate")
      .option("--max-shift", train.max_shift, "random translation of the training images, in pixels")
      .common(seed, threads, out);
  args.parse(argc, argv);
  try {
    set_num_threads(threads);
    train.steps = steps;
    train.seed = seed;
    const auto dir = examples::make_out_dir(out);
    const metrics::DigitSplit split = metrics::load_mnist10k_split(examples::data_path("mnist-10k"));
    std::printf("digit_classifier: %lld training / %lld held-out images, %d steps\n",
                static_cast<long long>(split.train.images.size(0)), static_cast<long long>(split.held_out.images.size(0)), steps);

    Rng init(seed);
    metrics::DigitClassifier net({}, init);
    io::CsvLog log(dir / "log.csv", {"step", "loss"});
    io::Progress progress(steps, "train");
    train.on_step = [&](index_t step, double loss) {
      log.row({double(step), loss});
      progress.update(step, {{"loss", loss}});
    };
    const auto start = std::chrono::steady_clock::now();
    metrics::train_digit_classifier(net, split.train.images, split.train.labels, train);
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const double accuracy = net.accuracy(split.held_out.images, split.held_out.labels);
    const double train_accuracy = net.accuracy(split.train.images, split.train.labels);
    std::printf("held-out accuracy: %.2f%% (training images %.2f%%), %.1f s training (%.0f ms/step)\n", 100 * accuracy,
                100 * train_accuracy, seconds, 1000 * seconds / steps);
    const auto file = dir / "digit_classifier.safetensors";
    io::save_safetensors(file, net.state_dict(),
                         {{"model", "latent.metrics.DigitClassifier"}, {"data", "MNIST-10k, index % 10 != 9"},
                          {"held_out_accuracy", std::to_string(accuracy)}, {"steps", std::to_string(steps)},
                          {"batch_size", std::to_string(train.batch_size)}, {"seed", std::to_string(seed)},
                          {"command", args.command_line()}});
    std::printf("wrote %s, %s\n", file.string().c_str(), (dir / "log.csv").string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
