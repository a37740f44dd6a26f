#include "diffinv/mse_table.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "diffinv/json_field.h"
#include <sstream>

namespace diffinv {

MseTable::MseTable(std::vector<double> sigmas, std::vector<double> mse) : sigmas_(std::move(sigmas)), mse_(std::move(mse)) {
  require(!sigmas_.empty(), "MSE table: no entries");
  require(sigmas_.size() == mse_.size(), "MSE table: " + std::to_string(sigmas_.size()) + " sigmas but " +
                                             std::to_string(mse_.size()) + " MSE values");
  for (size_t i = 0; i < sigmas_.size(); ++i) {
    require(std::isfinite(sigmas_[i]) && sigmas_[i] > 0, "MSE table: sigma #" + std::to_string(i) + " is not positive");
    require(i == 0 || sigmas_[i] > sigmas_[i - 1], "MSE table: sigmas must be strictly ascending (entry #" +
                                                      std::to_string(i) + ")");
    require(std::isfinite(mse_[i]) && mse_[i] >= 0,
            "MSE table: the MSE at sigma " + std::to_string(sigmas_[i]) + " is not a finite non-negative number");
  }
}

MseTable MseTable::load(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot read MSE table '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto j = nlohmann::json::parse(text.str());
    require(j.is_object() && j.contains("sigmas") && j.contains("mse"),
            "it needs the keys \"sigmas\" and \"mse\" (written by diffinv estimate-variance)");
    if (j.contains("format"))
      require(j["format"] == "diffinv-mse-table", "unknown format " + j["format"].dump());
    return MseTable(json_field<std::vector<double>>(j, "sigmas", "the table"), json_field<std::vector<double>>(j, "mse", "the table"));
  } catch (const nlohmann::json::exception& e) {
    throw Error("MSE table '" + path + "': " + e.what());
  } catch (const Error& e) {
    throw Error("MSE table '" + path + "': " + e.what());
  }
}

std::string MseTable::to_json(const std::string& provenance) const {
  nlohmann::json j = provenance.empty() ? nlohmann::json::object() : nlohmann::json::parse(provenance);
  j["format"] = "diffinv-mse-table";
  j["version"] = 1;
  j["sigmas"] = sigmas_;
  j["mse"] = mse_;
  return j.dump(1) + "\n";
}

double MseTable::at(double sigma) const {
  require(!empty(), "MSE table: no entries");
  if (sigma <= sigmas_.front()) return mse_.front();
  if (sigma >= sigmas_.back()) return mse_.back();
  const size_t hi = size_t(std::upper_bound(sigmas_.begin(), sigmas_.end(), sigma) - sigmas_.begin());
  const size_t lo = hi - 1;
  if (sigma == sigmas_[lo]) return mse_[lo];  // an entry itself, bit for bit
  const double w = (std::log(sigma) - std::log(sigmas_[lo])) / (std::log(sigmas_[hi]) - std::log(sigmas_[lo]));
  if (mse_[lo] > 0 && mse_[hi] > 0) return std::exp((1 - w) * std::log(mse_[lo]) + w * std::log(mse_[hi]));
  return (1 - w) * mse_[lo] + w * mse_[hi];
}

}  // namespace diffinv
