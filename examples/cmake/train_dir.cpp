// DIR from C++ through the C header: train a reward model on length-biased synthetic data,
// evaluate it, and compute DIR's loss for one batch with a standalone CLUB estimator.
//
// The RAII wrappers below are the example's, not the library's: the C API stays plain C,
// and each C++ project wraps it the way it prefers. Exits non-zero if anything fails.
#include <dirrm.h>

#include <cstdio>
#include <memory>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A failing call becomes an exception carrying the library's message (which names the
// function, the argument and, for a bad value, the first offending index).
void check(int32_t status) {
  if (status != DIRRM_OK) {
    throw std::runtime_error(std::string(dirrm_status_string(status)) + ": " + dirrm_last_error());
  }
}

// One owner per handle, freed exactly once on every way out of its scope.
template <typename T, int32_t (*Free)(T *)>
struct Deleter {
  void operator()(T *handle) const noexcept { Free(handle); }
};
using Dataset = std::unique_ptr<dirrm_dataset, Deleter<dirrm_dataset, dirrm_dataset_free>>;
using Model = std::unique_ptr<dirrm_model, Deleter<dirrm_model, dirrm_model_free>>;
using Club = std::unique_ptr<dirrm_club, Deleter<dirrm_club, dirrm_club_free>>;

std::pair<Dataset, Dataset> synth_length(int64_t num_prompts) {
  dirrm_synth_params params;
  dirrm_synth_params_init(&params);  // length-biased: 80% of training pairs chosen-longer
  params.num_prompts = num_prompts;
  dirrm_dataset *train = nullptr, *test = nullptr;
  check(dirrm_synth_generate(&params, &train, &test));
  return {Dataset(train), Dataset(test)};
}

Model train(const Dataset &data, int32_t method) {
  int64_t prompt_dim = 0, response_dim = 0;
  check(dirrm_dataset_shape(data.get(), nullptr, &prompt_dim, nullptr, &response_dim, nullptr,
                            nullptr));
  dirrm_model_params model_params;
  dirrm_model_params_init(&model_params);
  model_params.prompt_dim = prompt_dim;
  model_params.response_dim = response_dim;
  dirrm_model *raw = nullptr;
  check(dirrm_model_create(&model_params, &raw));
  Model model(raw);
  dirrm_train_params train_params;
  dirrm_train_params_init(&train_params);
  train_params.method = method;
  train_params.epochs = 1;
  check(dirrm_train(model.get(), data.get(), &train_params, nullptr, nullptr));
  return model;
}

}  // namespace

int main() {
  try {
    if (dirrm_version_number() != DIRRM_VERSION_NUMBER) {
      std::fprintf(stderr, "header %d and library %d differ\n", DIRRM_VERSION_NUMBER,
                   dirrm_version_number());
      return 1;
    }
    std::printf("dirrm %s\n", dirrm_version_string());

    auto [train_set, test_set] = synth_length(400);
    Model model = train(train_set, DIRRM_METHOD_DIR);
    dirrm_eval_report report;
    report.struct_size = sizeof report;
    check(dirrm_evaluate(model.get(), test_set.get(), 0, &report));
    std::printf("DIR-trained model: accuracy %.4f on %lld test pairs\n", report.accuracy,
                static_cast<long long>(report.pairs));

    // DIR's loss for one batch of hidden states from any model, under DIR's policy
    // (dirrm_dir_params_init: lambda, clip, cap and a Gaussian q on one attribute).
    constexpr int64_t n = 64, d = 16;
    dirrm_dir_params policy;
    dirrm_dir_params_init(&policy);
    policy.club.hidden_dim = static_cast<int32_t>(d);
    dirrm_club *raw_club = nullptr;
    check(dirrm_club_create(&policy.club, &raw_club));
    Club club(raw_club);
    std::mt19937 random(0);
    std::normal_distribution<float> normal;
    // A linear reward head r = w . h stands in for the caller's model.
    std::vector<float> w(d), h_chosen(n * d), h_rejected(n * d), r_chosen(n), r_rejected(n), bias(n);
    for (auto *values : {&w, &h_chosen, &h_rejected}) {
      for (float &v : *values) v = normal(random);
    }
    for (int64_t i = 0; i < n; i++) {
      for (int64_t j = 0; j < d; j++) {
        r_chosen[i] += w[j] * h_chosen[i * d + j];
        r_rejected[i] += w[j] * h_rejected[i * d + j];
      }
      bias[i] = 40.0f * (h_chosen[i * d] - h_rejected[i * d]);  // e.g. a length gap in tokens
    }
    std::vector<float> grad_rc(n), grad_rr(n), grad_hc(n * d), grad_hr(n * d);
    float total = 0, pref = 0, mi = 0;
    check(dirrm_dir_loss(club.get(), &policy, n, r_chosen.data(), r_rejected.data(), h_chosen.data(),
                         h_rejected.data(), bias.data(), 1, &total, &pref, &mi, grad_rc.data(),
                         grad_rr.data(), grad_hc.data(), grad_hr.data()));
    std::printf("DIR loss %.6f = BT %.6f + %.1f * max(CLUB %.6f, 0)\n", total, pref, policy.lambda, mi);
    // The cap: the preference loss's gradient on the hidden states (grad_r through the head),
    // then the penalty's gradient scaled to at most its norm.
    std::vector<float> pref_hc(n * d), pref_hr(n * d);
    for (int64_t i = 0; i < n; i++) {
      for (int64_t j = 0; j < d; j++) {
        pref_hc[i * d + j] = grad_rc[i] * w[j];
        pref_hr[i * d + j] = grad_rr[i] * w[j];
      }
    }
    float scale = 0;
    check(dirrm_dir_cap(n, d, pref_hc.data(), pref_hr.data(), grad_hc.data(), grad_hr.data(), &scale));
    std::printf("penalty gradient scaled by %.4f\n", scale);

    // A bad argument throws, and the handles above are still freed.
    try {
      bias[3] = std::numeric_limits<float>::quiet_NaN();
      check(dirrm_dir_loss(club.get(), &policy, n, r_chosen.data(), r_rejected.data(),
                           h_chosen.data(), h_rejected.data(), bias.data(), 0, &total, nullptr,
                           nullptr, nullptr, nullptr, nullptr, nullptr));
      std::fprintf(stderr, "a NaN bias was accepted\n");
      return 1;
    } catch (const std::runtime_error &error) {
      std::printf("refused as expected: %s\n", error.what());
    }
    return 0;
  } catch (const std::exception &error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
}
