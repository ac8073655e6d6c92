// Early freeing in the backward sweep: without retain_graph a node's inputs and saved tensors die right after its
// rule ran (PyTorch's behaviour), ops whose rule reads their own output keep it until then, and nothing leaks.
// Ops whose rule needs only an input's shape (or their own output) do not keep that input alive at all.
// Oracles: whether a weak_ptr to an intermediate has expired, the allocator's bytes in use, finite differences
// (gradcheck) and analytic derivatives.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace latent;

namespace {

using Impl = detail::TensorImpl<double>;

// "probe": the identity, whose rule records what is alive when it runs. Placed on the leaf, it runs last.
struct ProbeRecord {
  std::weak_ptr<Impl> watched;
  bool watched_alive = false;
  std::size_t bytes_in_use = 0;
};
ProbeRecord probe_record;

void probe_backward(autograd::Node<double>&, const Tensor<double>& g, autograd::TensorList<double>& grads) {
  probe_record.watched_alive = !probe_record.watched.expired();
  probe_record.bytes_in_use = memory_stats().bytes_in_use;
  grads[0] = g;
}
Tensor<double> probe(const Tensor<double>& x) {
  Tensor<double> y = x.clone_detached();
  autograd::make_node(y, "probe", &probe_backward, {x});
  return y;
}

// "boom": the identity, whose rule throws (a failing rule mid-sweep).
void boom_backward(autograd::Node<double>&, const Tensor<double>&, autograd::TensorList<double>&) { throw std::runtime_error("boom"); }
Tensor<double> boom(const Tensor<double>& x) {
  Tensor<double> y = x.clone_detached();
  autograd::make_node(y, "boom", &boom_backward, {x});
  return y;
}

// "forgetful_exp": exp whose rule reads the output but whose op forgot to say so.
void forgetful_exp_backward(autograd::Node<double>& n, const Tensor<double>& g, autograd::TensorList<double>& grads) {
  grads[0] = mul(g, n.output_tensor());
}
Tensor<double> forgetful_exp(const Tensor<double>& x) {
  Tensor<double> y = exp(x.detach());
  autograd::make_node(y, "forgetful_exp", &forgetful_exp_backward, {x});
  return y;
}

// x -> probe -> sin three times -> square -> sum; returns the loss and watches the last sine (held only by the
// square's node; sin's rule reads its input, so each sine is held by the next one's node until that node is
// freed; sum reads only its input's shape, so the square is held by nobody). Tensors of 64 Ki doubles (512 KiB)
// so that the allocator's counters see them clearly.
Tensor<double> probed_chain(const Tensor<double>& x) {
  Tensor<double> top = sin(sin(sin(probe(x))));
  probe_record.watched = top.impl_ptr();
  return sum(mul(top, top));
}

}  // namespace

TEST_CASE("backward frees each node's inputs before the sweep ends, unless retain_graph", "[autograd][memory]") {
  auto x = full<double>({1 << 16}, 0.5).set_requires_grad();
  constexpr std::size_t buffer = (std::size_t{1} << 16) * sizeof(double);

  Tensor<double> kept = probed_chain(x);
  kept.backward(Tensor<double>(), true);
  CHECK(probe_record.watched_alive);  // retain_graph: the whole graph lives until the sweep ends
  const std::size_t retained_bytes = probe_record.bytes_in_use;
  const std::vector<double> retained_grad = x.grad().to_vector();
  kept = Tensor<double>();
  CHECK(probe_record.watched.expired());  // and dies with the graph afterwards
  x.set_grad(Tensor<double>());

  Tensor<double> loss = probed_chain(x);
  loss.backward();
  CHECK_FALSE(probe_record.watched_alive);  // freed when sum's rule had run, before probe's rule ran
  // the probe's output and the three sines: all four are freed by the time probe's rule runs
  CHECK(probe_record.bytes_in_use + 4 * buffer <= retained_bytes);
  CHECK(x.grad().to_vector() == retained_grad);  // same rules on the same values
  const double s3 = std::sin(std::sin(std::sin(0.5)));
  CHECK(retained_grad[0] == Approx(2 * s3 * std::cos(0.5) * std::cos(std::sin(0.5)) * std::cos(std::sin(std::sin(0.5)))).epsilon(1e-14));
}

TEST_CASE("view, copy and reduction ops whose rules read only shapes keep no activation alive", "[autograd][memory]") {
  // reshape, permute, narrow, cat, expand, index_select, sum and mean: their outputs' nodes hold stand-ins, so the
  // activations fed to them die in the forward pass; the gradient is unchanged. Oracle: weak_ptrs and the
  // derivative of sin.
  auto x = from_vector<double>({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}).set_requires_grad();
  std::vector<std::weak_ptr<Impl>> watched;
  const auto keep = [&](const Tensor<double>& t) {
    watched.push_back(t.impl_ptr());
    return t;
  };
  Tensor<double> loss;
  {
    const Tensor<double> p = permute(keep(reshape(keep(sin(x)), Shape{2, 3})), {1, 0});  // [3, 2]
    const Tensor<double> c = cat({keep(narrow(p, 0, 0, 2)), keep(expand(keep(narrow(p, 0, 2, 1)), Shape{2, 2}))}, 0);
    const auto idx = from_vector<std::int64_t>({3, 0});
    loss = add(sum(keep(index_select(keep(c), 0, idx))), mean(keep(mul_scalar(c, 2.0))));
  }
  for (std::size_t i = 0; i < watched.size(); ++i) {
    INFO("watched tensor " << i);
    CHECK(watched[i].expired());
  }
  loss.backward();
  // d/dx of Σ over the selected rows of c plus mean(2c): c's rows are p[0], p[1], p[2], p[2] (p = sin(x) as [3, 2])
  // p[0]: selected once, once in c; p[1]: once in c; p[2]: selected once (through the expand), twice in c
  const std::vector<double> weight_of_p_row{1.0 + 2.0 / 8, 2.0 / 8, 1.0 + 2 * (2.0 / 8)};
  for (index_t i = 0; i < 6; ++i) {
    const index_t row = i % 3;  // x[i] lands at reshape [i / 3, i % 3], permuted to p[i % 3, i / 3]
    INFO("x[" << i << "]");
    CHECK(x.grad().data()[i] == Approx(std::cos(x.data()[i]) * weight_of_p_row[static_cast<std::size_t>(row)]).epsilon(1e-14));
  }
}

TEST_CASE("rules that read their op's output are exact after early freeing, in long chains", "[autograd][memory]") {
  // Every intermediate is held only by its consumers' nodes, which are freed before the producer's rule runs.
  // Oracle: central differences; tolerances are gradcheck's defaults (double precision).
  auto x = reshape(from_vector<double>({0.3, -0.2, 0.5, 0.1, -0.4, 0.25}), Shape{2, 3}).set_requires_grad();
  const auto chain = [](const std::vector<Tensor<double>>& v) {
    Tensor<double> h = v[0];
    for (int i = 0; i < 3; ++i) {
      h = tanh(exp(h));
      h = sigmoid(add_scalar(sqrt(add_scalar(h, 1.0)), -1.0));
      h = softmax(mul_scalar(h, 3.0), 1);
      h = add(log_softmax(h, 0), reciprocal(add_scalar(h, 1.0)));
      h = add(rsqrt(add_scalar(mul(h, h), 1.0)), expm1(mul_scalar(h, 0.1)));
    }
    const Tensor<double> lse = logsumexp(h, 1, true);
    return sum(mul(pow(add_scalar(h, 2.0), add_scalar(h, 1.5)), lse));
  };
  const auto r = gradcheck(chain, {x});
  INFO(r.report);
  CHECK(r.ok);

  // The same chain through backward() (leaf .grad), against the retained graph's gradient: the same rules
  // on the same values, so equal to the last bit.
  auto y = chain({x});
  y.backward(Tensor<double>(), true);
  const std::vector<double> retained = x.grad().to_vector();
  x.set_grad(Tensor<double>());
  y.backward();
  CHECK(x.grad().to_vector() == retained);
}

TEST_CASE("fused attention's backward reads its output after early freeing", "[autograd][memory]") {
  // Oracle: central differences on a small causal attention whose output feeds further ops (so its output
  // is held only by the consumer's node).
  Rng rng(5);
  const auto q = randn<double>({1, 2, 3, 4}, rng), k = randn<double>({1, 2, 3, 4}, rng), v = randn<double>({1, 2, 3, 4}, rng);
  const auto r = gradcheck(
      [](const std::vector<Tensor<double>>& t) { return sum(tanh(scaled_dot_product_attention(t[0], t[1], t[2], true))); }, {q, k, v});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("gradients of gradients are unchanged by early freeing (create_graph keeps the graph)", "[autograd][memory]") {
  // Oracle: finite differences of the create_graph gradient.
  auto x = from_vector<double>({0.3, -0.7, 1.1}).set_requires_grad();
  const auto r = gradgradcheck(
      [](const std::vector<Tensor<double>>& v) { return mul(softmax(exp(v[0]), 0), tanh(sigmoid(v[0]))); }, {x});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("a second backward through a graph freed early names the first freed node on its path", "[autograd][errors][memory]") {
  auto x = from_vector<double>({0.5, 1.5}).set_requires_grad();
  auto h = exp(x);
  auto first = sum(tanh(h));
  first.backward();
  CHECK(x.grad().to_vector()[0] == Approx((1 - std::pow(std::tanh(std::exp(0.5)), 2)) * std::exp(0.5)).epsilon(1e-14));
  CHECK_THROWS_WITH(sum(mul(h, h)).backward(), "[latent.autograd] backward through 'exp' a second time: its saved tensors were freed; "
                                               "pass retain_graph = true to the first backward");
  CHECK_THROWS_WITH(first.backward(), "[latent.autograd] backward through 'sum' a second time: its saved tensors were freed; "
                                      "pass retain_graph = true to the first backward");
}

TEST_CASE("retain_graph keeps a chain of output-reading ops for a second backward", "[autograd][memory]") {
  // d/dx sum(sigmoid(tanh(exp(x)))) = s (1 - s) (1 - t²) e^x, twice.
  auto x = from_vector<double>({-0.3, 0.2}).set_requires_grad();
  auto y = sum(sigmoid(tanh(exp(x))));
  y.backward(Tensor<double>(), true);
  y.backward();
  for (int i = 0; i < 2; ++i) {
    const double xi = x.to_vector()[static_cast<std::size_t>(i)], e = std::exp(xi), t = std::tanh(e), s = 1 / (1 + std::exp(-t));
    CHECK(x.grad().to_vector()[static_cast<std::size_t>(i)] == Approx(2 * s * (1 - s) * (1 - t * t) * e).epsilon(1e-13));
  }
}

TEST_CASE("grad() captures non-leaf gradients while nodes are freed early", "[autograd][memory]") {
  // y = sum(tanh(h)), h = exp(x): dy/dh = 1 - tanh(h)², dy/dx = dy/dh · h.
  auto x = from_vector<double>({0.1, -0.6}).set_requires_grad();
  auto h = exp(x);
  auto gs = grad<double>({sum(tanh(h))}, {h, x});
  for (std::size_t i = 0; i < 2; ++i) {
    const double hi = h.to_vector()[i], dh = 1 - std::tanh(hi) * std::tanh(hi);
    CHECK(gs[0].to_vector()[i] == Approx(dh).epsilon(1e-14));
    CHECK(gs[1].to_vector()[i] == Approx(dh * hi).epsilon(1e-14));
  }
}

TEST_CASE("outputs held for their rules are let go after a backward and after a rule throws", "[autograd][memory]") {
  auto x = from_vector<double>({0.2, 0.4}).set_requires_grad();
  std::weak_ptr<Impl> watched;
  {
    auto e = exp(x);  // its node holds e from the start of the sweep: a cycle e -> node -> e until released
    watched = e.impl_ptr();
    auto loss = sum(boom(e));
    CHECK_THROWS_WITH(loss.backward(), "boom");
  }
  CHECK(watched.expired());
  {
    auto e = exp(x);
    watched = e.impl_ptr();
    sum(tanh(e)).backward();
  }
  CHECK(watched.expired());
}

TEST_CASE("a rule that reads its output without reads_output is reported", "[autograd][errors][memory]") {
  auto x = from_vector<double>({0.2}).set_requires_grad();
  auto y = forgetful_exp(x);
  CHECK_THROWS_WITH(sum(y).backward(),
                    "[latent.autograd] forgetful_exp: the backward rule reads the op's output but the op did not set reads_output");
}

TEST_CASE("ops whose rule needs only the input's shape or their output let the input die in the forward pass", "[autograd][memory]") {
  // h = x ⊙ k is an intermediate only the op's node could keep alive. Gradients: analytic, d/dx = d/dh · k.
  auto x = from_vector<double>({-1.5, 0.5, 2.0}).set_requires_grad();
  const auto k = from_vector<double>({1.0, -1.0, 1.0});
  struct Case {
    const char* name;
    std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)> op;  // (h, x)
    std::function<double(double)> d_dh;  // d op(h)_i / d h_i at h_i (elementwise cases)
    bool frees_input;
  };
  const std::vector<Case> cases = {
      {"relu", [](const auto& h, const auto&) { return relu(h); }, [](double h) { return h > 0 ? 1.0 : 0.0; }, true},
      {"leaky_relu", [](const auto& h, const auto&) { return leaky_relu(h, 0.2); }, [](double h) { return h > 0 ? 1.0 : 0.2; }, true},
      {"leaky_relu with a negative slope", [](const auto& h, const auto&) { return leaky_relu(h, -0.2); },
       [](double h) { return h > 0 ? 1.0 : -0.2; }, false},  // y > 0 does not say x > 0: reads x
      {"tanh", [](const auto& h, const auto&) { return tanh(h); }, [](double h) { return 1 - std::tanh(h) * std::tanh(h); }, true},
      {"exp", [](const auto& h, const auto&) { return exp(h); }, [](double h) { return std::exp(h); }, true},
      {"neg", [](const auto& h, const auto&) { return neg(h); }, [](double) { return -1.0; }, true},
      {"mul_scalar", [](const auto& h, const auto&) { return mul_scalar(h, 3.0); }, [](double) { return 3.0; }, true},
      {"sub", [](const auto& h, const auto& v) { return sub(v.detach(), h); }, [](double) { return -1.0; }, true},
      {"softmax", [](const auto& h, const auto&) { return mul(softmax(h, 0), from_vector<double>({1.0, 0.0, 0.0})); }, nullptr, true},
      {"sin", [](const auto& h, const auto&) { return sin(h); }, [](double h) { return std::cos(h); }, false},  // reads x
  };
  for (const auto& c : cases) {
    INFO(c.name);
    x.set_grad(Tensor<double>());
    std::weak_ptr<Impl> watched;
    Tensor<double> y;
    {
      auto h = mul(x, k);
      watched = h.impl_ptr();
      y = c.op(h, x);
    }
    CHECK(watched.expired() == c.frees_input);
    sum(y).backward();
    for (std::size_t i = 0; i < 3; ++i) {
      const double h = x.to_vector()[i] * k.to_vector()[i];
      double d_dh = 0;
      if (c.d_dh) {
        d_dh = c.d_dh(h);
      } else {  // softmax's first output: d p0 / d h_i = p0 (δ_0i - p_i)
        double z = 0;
        for (std::size_t j = 0; j < 3; ++j) z += std::exp(x.to_vector()[j] * k.to_vector()[j]);
        const double p0 = std::exp(x.to_vector()[0] * k.to_vector()[0]) / z, pi = std::exp(h) / z;
        d_dh = p0 * ((i == 0 ? 1.0 : 0.0) - pi);
      }
      CHECK(x.grad().to_vector()[i] == Approx(d_dh * k.to_vector()[i]).epsilon(1e-14));
    }
  }
}

TEST_CASE("relu and leaky_relu written with their output pass gradcheck and gradgradcheck", "[autograd][memory]") {
  // Oracle: central differences; the points stay away from the kink at 0.
  auto x = from_vector<double>({-1.3, -0.4, 0.6, 1.7}).set_requires_grad();
  const auto f = [](const std::vector<Tensor<double>>& v) {
    const Tensor<double> h = mul(v[0], add_scalar(v[0], 0.5));  // an intermediate feeding both
    return add(mul(relu(h), h), mul(leaky_relu(h, 0.1), exp(h)));
  };
  const auto r = gradcheck(f, {x});
  INFO(r.report);
  CHECK(r.ok);
  const auto rr = gradgradcheck(f, {x});
  INFO(rr.report);
  CHECK(rr.ok);
}
