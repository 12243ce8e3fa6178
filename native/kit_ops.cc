// convnext-xray-kit's own TensorFlow ops, compiled into the tfjs-node binding by
// scripts/native.js (it copies this file next to the binding's sources and adds it to
// binding.gyp). Loading the binding registers them with TensorFlow through its C API
// (tensorflow/c/ops.h, kernels.h), so the kit calls them like any other op:
// backend.executeSingleOutput('KitLayerNorm', ...).
//
// Why: LayerNorm over the channels of NHWC activations is ConvNeXt's most frequent op and
// TensorFlow has no kernel for it. Built from stock ops it takes five passes over the tensor
// (Mean, Sub, Square, Mean, Mul) or a FusedBatchNorm on a transposed view; measured at
// [32,16,16,40] on 2 cores: 507 and 581 µs, against PyTorch's native_layer_norm at 183 µs.
// Here each row of C channels is read once into cache and written once.
//
//   KitLayerNorm(x [..., C], gamma [C], beta [C]; epsilon)
//       -> y [..., C], mean [...], rstd [...]        y = (x - mean) * rstd * gamma + beta
//   KitLayerNormGrad(dy [..., C], x [..., C], gamma [C], mean [...], rstd [...])
//       -> dx [..., C], dgamma [C], dbeta [C]
//
// with mean and rstd = 1 / sqrt(var + epsilon) per row (biased variance, as PyTorch and
// tf.moments), and the gradient of y written out per row, x̂ = (x - mean) * rstd, g = dy * gamma:
//   dx = rstd * (g - mean(g) - x̂ * mean(g * x̂)),  dgamma = Σ_rows dy * x̂,  dbeta = Σ_rows dy.
//
// BatchNorm in training, NHWC, statistics per channel over all rows (N·H·W), for the same reason:
// TensorFlow's FusedBatchNormV3 / GradV3 took 0.49 / 0.62 ms per call in the resnet step (38 of
// each, a fifth of the step).
//
//   KitBatchNorm(x [..., C], gamma [C], beta [C]; epsilon)
//       -> y [..., C], mean [C], variance [C]         (variance biased, as tf.moments)
//   KitBatchNormGrad(dy [..., C], x [..., C], gamma [C], mean [C], variance [C]; epsilon)
//       -> dx [..., C], dgamma [C], dbeta [C]
//   dx = gamma * rstd / M * (M * dy - dbeta - x̂ * dgamma),  dgamma = Σ dy * x̂,  dbeta = Σ dy
//
// The statistics are one pass of shifted sums (x - shift, the first row's value per channel,
// which keeps E[x²] - E[x]² from cancelling) accumulated in float over blocks of rows and in
// double across blocks.
//
// float32 on the CPU only, on the calling thread: on 2 cores a second thread made them slower
// (224 vs 337 µs for KitBatchNorm at [32,32,32,16]), competing with TensorFlow's own pool.
// test/kernels/tensorflow.test.ts checks every op against the pure-JS backend.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace {

struct Status {
  TF_Status* s = TF_NewStatus();
  ~Status() { TF_DeleteStatus(s); }
  bool ok() const { return TF_GetCode(s) == TF_OK; }
};

// Inputs taken from the context, released when the kernel returns.
struct Tensors {
  std::vector<TF_Tensor*> all;
  ~Tensors() {
    for (TF_Tensor* t : all) TF_DeleteTensor(t);
  }
  TF_Tensor* keep(TF_Tensor* t) {
    all.push_back(t);
    return t;
  }
};

std::vector<int64_t> DimsOf(const TF_Tensor* t) {
  std::vector<int64_t> dims(TF_NumDims(t));
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = TF_Dim(t, static_cast<int>(i));
  return dims;
}

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? "," : "") + std::to_string(dims[i]);
  return out + "]";
}

bool Fail(TF_OpKernelContext* ctx, const std::string& message) {
  Status status;
  TF_SetStatus(status.s, TF_INVALID_ARGUMENT, message.c_str());
  TF_OpKernelContext_Failure(ctx, status.s);
  return false;
}

// Input i (its dtype is checked by the op definition: float).
TF_Tensor* Input(TF_OpKernelContext* ctx, Tensors& held, int i) {
  Status status;
  TF_Tensor* t = nullptr;
  TF_GetInput(ctx, i, &t, status.s);
  if (!status.ok()) {
    TF_OpKernelContext_Failure(ctx, status.s);
    return nullptr;
  }
  return held.keep(t);
}

TF_Tensor* Output(TF_OpKernelContext* ctx, Tensors& held, int i, const std::vector<int64_t>& dims) {
  Status status;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  TF_Tensor* t = TF_AllocateOutput(ctx, i, TF_FLOAT, dims.data(), static_cast<int>(dims.size()), n * sizeof(float), status.s);
  if (!status.ok()) {
    TF_OpKernelContext_Failure(ctx, status.s);
    return nullptr;
  }
  return held.keep(t);
}

float* Data(TF_Tensor* t) { return static_cast<float*>(TF_TensorData(t)); }

// Inputs 0, 1, ... into the given pointers; false (the failure already reported) if one cannot be read.
bool Inputs(TF_OpKernelContext* ctx, Tensors& held, std::initializer_list<TF_Tensor**> into) {
  int i = 0;
  for (TF_Tensor** t : into) {
    *t = Input(ctx, held, i++);
    if (!*t) return false;
  }
  return true;
}

// Outputs 0, 1, ... with the given shapes; false (the failure already reported) if one cannot be allocated.
struct OutputSpec {
  TF_Tensor** into;
  std::vector<int64_t> dims;
};
bool Outputs(TF_OpKernelContext* ctx, Tensors& held, std::initializer_list<OutputSpec> specs) {
  int i = 0;
  for (const OutputSpec& o : specs) {
    *o.into = Output(ctx, held, i++, o.dims);
    if (!*o.into) return false;
  }
  return true;
}

// Sums over a row with eight independent accumulators: a float sum in one register is a chain
// of dependent adds that the compiler may not reorder (without -ffast-math), so it can neither
// vectorize nor overlap them; eight lanes give it both. f(k) is the k-th term.
template <typename F>
float RowSum(int64_t n, F f) {
  float lane[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += f(k + j);
  }
  float total = 0.f;
  for (; k < n; ++k) total += f(k);
  for (float v : lane) total += v;
  return total;
}

// Checks x [..., C] against gamma [C] and returns C (0 after reporting a failure).
int64_t Channels(TF_OpKernelContext* ctx, const char* op, const TF_Tensor* x, const TF_Tensor* gamma) {
  const std::vector<int64_t> dims = DimsOf(x);
  if (dims.empty() || dims.back() == 0) {
    Fail(ctx, std::string(op) + ": x must have a non-empty last (channel) axis, got shape " + ShapeText(dims));
    return 0;
  }
  const std::vector<int64_t> g = DimsOf(gamma);
  if (g.size() != 1 || g[0] != dims.back()) {
    Fail(ctx, std::string(op) + ": gamma must be [" + std::to_string(dims.back()) + "] for x of shape " + ShapeText(dims) + ", got " + ShapeText(g));
    return 0;
  }
  return dims.back();
}

// The `epsilon` attribute, read once when TensorFlow builds the kernel.
void* CreateEpsilon(TF_OpKernelConstruction* ctx) {
  auto* epsilon = new float(1e-6f);
  Status status;
  TF_OpKernelConstruction_GetAttrFloat(ctx, "epsilon", epsilon, status.s);
  if (!status.ok()) TF_OpKernelConstruction_Failure(ctx, status.s);
  return epsilon;
}

void DeleteEpsilon(void* kernel) { delete static_cast<float*>(kernel); }

void ComputeLayerNorm(void* kernel, TF_OpKernelContext* ctx) {
  const float epsilon = *static_cast<float*>(kernel);
  Tensors held;
  TF_Tensor *x, *gamma, *beta;
  if (!Inputs(ctx, held, {&x, &gamma, &beta})) return;
  const int64_t c = Channels(ctx, "KitLayerNorm", x, gamma);
  if (c == 0) return;
  if (TF_TensorElementCount(beta) != c) {
    Fail(ctx, "KitLayerNorm: beta must have " + std::to_string(c) + " elements, like gamma");
    return;
  }
  const std::vector<int64_t> dims = DimsOf(x);
  const std::vector<int64_t> row_dims(dims.begin(), dims.end() - 1);
  TF_Tensor *y, *mean, *rstd;
  if (!Outputs(ctx, held, {{&y, dims}, {&mean, row_dims}, {&rstd, row_dims}})) return;
  const int64_t rows = TF_TensorElementCount(x) / c;
  const float* in = Data(x);
  const float* g = Data(gamma);
  const float* b = Data(beta);
  float* out = Data(y);
  float* mean_out = Data(mean);
  float* rstd_out = Data(rstd);
  for (int64_t r = 0; r < rows; ++r) {
      const float* xr = in + r * c;
      float* yr = out + r * c;
      // Two passes over a row that stays in cache: the mean, then the centred sum of squares
      // (no cancellation, unlike E[x²] - E[x]²).
      const float mu = RowSum(c, [xr](int64_t k) { return xr[k]; }) / static_cast<float>(c);
      const float sq = RowSum(c, [xr, mu](int64_t k) { return (xr[k] - mu) * (xr[k] - mu); });
      const float inv = 1.f / std::sqrt(sq / static_cast<float>(c) + epsilon);
      for (int64_t k = 0; k < c; ++k) yr[k] = (xr[k] - mu) * inv * g[k] + b[k];
      mean_out[r] = mu;
      rstd_out[r] = inv;
  }
}

void ComputeLayerNormGrad(void*, TF_OpKernelContext* ctx) {
  Tensors held;
  TF_Tensor *dy, *x, *gamma, *mean, *rstd;
  if (!Inputs(ctx, held, {&dy, &x, &gamma, &mean, &rstd})) return;
  const int64_t c = Channels(ctx, "KitLayerNormGrad", x, gamma);
  if (c == 0) return;
  const int64_t rows = TF_TensorElementCount(x) / c;
  if (TF_TensorElementCount(dy) != rows * c || TF_TensorElementCount(mean) != rows || TF_TensorElementCount(rstd) != rows) {
    Fail(ctx, "KitLayerNormGrad: dy must have x's shape " + ShapeText(DimsOf(x)) + " and mean, rstd one value per row (" + std::to_string(rows) + ")");
    return;
  }
  TF_Tensor *dx, *dgamma, *dbeta;
  if (!Outputs(ctx, held, {{&dx, DimsOf(x)}, {&dgamma, {c}}, {&dbeta, {c}}})) return;
  const float* dy_in = Data(dy);
  const float* x_in = Data(x);
  const float* g = Data(gamma);
  const float* mu = Data(mean);
  const float* inv = Data(rstd);
  float* dx_out = Data(dx);
  float* dg = Data(dgamma);
  float* db = Data(dbeta);
  std::fill(dg, dg + c, 0.f);
  std::fill(db, db + c, 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy_in + r * c;
    const float* xr = x_in + r * c;
    float* dxr = dx_out + r * c;
    const float m = mu[r], s = inv[r];
    const float sum_g = RowSum(c, [dyr, g](int64_t k) { return dyr[k] * g[k]; });
    const float sum_gx = RowSum(c, [dyr, g, xr, m, s](int64_t k) { return dyr[k] * g[k] * (xr[k] - m) * s; });
    for (int64_t k = 0; k < c; ++k) {
      dg[k] += dyr[k] * (xr[k] - m) * s;
      db[k] += dyr[k];
    }
    const float mean_g = sum_g / static_cast<float>(c), mean_gx = sum_gx / static_cast<float>(c);
    for (int64_t k = 0; k < c; ++k) dxr[k] = s * (dyr[k] * g[k] - mean_g - (xr[k] - m) * s * mean_gx);
  }
}

// Per-channel sums over rows [first, end) of a [rows, c] matrix, in float over blocks of kBlock
// rows (the loop over channels vectorizes; __restrict__ tells the compiler the accumulators do
// not alias the inputs) and in double across blocks:
//   Statistics: out_a[k] += x - shift[k],  out_b[k] += (x - shift[k])²
//   Gradient:   out_a[k] += dy · (x - mean[k]) · rstd[k],  out_b[k] += dy
constexpr int64_t kBlock = 128;

void StatisticSums(const float* __restrict__ x, const float* __restrict__ shift, int64_t first, int64_t end, int64_t c, double* out_a, double* out_b) {
  std::vector<float> va(c), vb(c);
  float* __restrict__ a = va.data();
  float* __restrict__ b = vb.data();
  for (int64_t start = first; start < end; start += kBlock) {
    std::fill(va.begin(), va.end(), 0.f);
    std::fill(vb.begin(), vb.end(), 0.f);
    for (int64_t r = start, stop = std::min(end, start + kBlock); r < stop; ++r) {
      const float* __restrict__ xr = x + r * c;
      for (int64_t k = 0; k < c; ++k) {
        const float d = xr[k] - shift[k];
        a[k] += d;
        b[k] += d * d;
      }
    }
    for (int64_t k = 0; k < c; ++k) {
      out_a[k] += a[k];
      out_b[k] += b[k];
    }
  }
}

void GradientSums(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean, const float* __restrict__ rstd, int64_t first, int64_t end, int64_t c, double* out_a, double* out_b) {
  std::vector<float> va(c), vb(c);
  float* __restrict__ a = va.data();
  float* __restrict__ b = vb.data();
  for (int64_t start = first; start < end; start += kBlock) {
    std::fill(va.begin(), va.end(), 0.f);
    std::fill(vb.begin(), vb.end(), 0.f);
    for (int64_t r = start, stop = std::min(end, start + kBlock); r < stop; ++r) {
      const float* __restrict__ dyr = dy + r * c;
      const float* __restrict__ xr = x + r * c;
      for (int64_t k = 0; k < c; ++k) {
        a[k] += dyr[k] * (xr[k] - mean[k]) * rstd[k];
        b[k] += dyr[k];
      }
    }
    for (int64_t k = 0; k < c; ++k) {
      out_a[k] += a[k];
      out_b[k] += b[k];
    }
  }
}

// out = x · scale + offset per channel (the normalization), over rows [first, end).
void ScaleShift(const float* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ offset, float* __restrict__ out, int64_t first, int64_t end, int64_t c) {
  for (int64_t r = first; r < end; ++r) {
    for (int64_t k = 0; k < c; ++k) out[r * c + k] = x[r * c + k] * scale[k] + offset[k];
  }
}

// dx = a·dy + b·x + d per channel, over rows [first, end).
void GradientInput(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ d, float* __restrict__ out, int64_t first, int64_t end, int64_t c) {
  for (int64_t r = first; r < end; ++r) {
    for (int64_t k = 0; k < c; ++k) out[r * c + k] = a[k] * dy[r * c + k] + b[k] * x[r * c + k] + d[k];
  }
}

void ComputeBatchNorm(void* kernel, TF_OpKernelContext* ctx) {
  const float epsilon = *static_cast<float*>(kernel);
  Tensors held;
  TF_Tensor *x, *gamma, *beta;
  if (!Inputs(ctx, held, {&x, &gamma, &beta})) return;
  const int64_t c = Channels(ctx, "KitBatchNorm", x, gamma);
  if (c == 0) return;
  const int64_t rows = TF_TensorElementCount(x) / c;
  if (TF_TensorElementCount(beta) != c || rows == 0) {
    Fail(ctx, "KitBatchNorm: beta must have " + std::to_string(c) + " elements, like gamma, and x at least one row");
    return;
  }
  TF_Tensor *y, *mean, *variance;
  if (!Outputs(ctx, held, {{&y, DimsOf(x)}, {&mean, {c}}, {&variance, {c}}})) return;
  const float* in = Data(x);
  const float* g = Data(gamma);
  const float* b = Data(beta);
  std::vector<float> shift(in, in + c);
  std::vector<double> s1(c, 0.0), s2(c, 0.0);
  const float* sh = shift.data();
  StatisticSums(in, sh, 0, rows, c, s1.data(), s2.data());
  float* mean_out = Data(mean);
  float* var_out = Data(variance);
  std::vector<float> scale(c), offset(c);
  for (int64_t k = 0; k < c; ++k) {
    const double m = s1[k] / static_cast<double>(rows);
    const double v = std::max(0.0, s2[k] / static_cast<double>(rows) - m * m);
    mean_out[k] = static_cast<float>(sh[k] + m);
    var_out[k] = static_cast<float>(v);
    scale[k] = static_cast<float>(g[k] / std::sqrt(v + epsilon));
    offset[k] = b[k] - mean_out[k] * scale[k];
  }
  float* out = Data(y);
  const float* sc = scale.data();
  const float* of = offset.data();
  ScaleShift(in, sc, of, out, 0, rows, c);
}

void ComputeBatchNormGrad(void* kernel, TF_OpKernelContext* ctx) {
  const float epsilon = *static_cast<float*>(kernel);
  Tensors held;
  TF_Tensor *dy, *x, *gamma, *mean, *variance;
  if (!Inputs(ctx, held, {&dy, &x, &gamma, &mean, &variance})) return;
  const int64_t c = Channels(ctx, "KitBatchNormGrad", x, gamma);
  if (c == 0) return;
  const int64_t rows = TF_TensorElementCount(x) / c;
  if (TF_TensorElementCount(dy) != rows * c || TF_TensorElementCount(mean) != c || TF_TensorElementCount(variance) != c || rows == 0) {
    Fail(ctx, "KitBatchNormGrad: dy must have x's shape " + ShapeText(DimsOf(x)) + " and mean, variance one value per channel (" + std::to_string(c) + ")");
    return;
  }
  TF_Tensor *dx, *dgamma, *dbeta;
  if (!Outputs(ctx, held, {{&dx, DimsOf(x)}, {&dgamma, {c}}, {&dbeta, {c}}})) return;
  const float* dy_in = Data(dy);
  const float* x_in = Data(x);
  const float* g = Data(gamma);
  const float* mu = Data(mean);
  std::vector<float> rstd(c);
  for (int64_t k = 0; k < c; ++k) rstd[k] = 1.f / std::sqrt(Data(variance)[k] + epsilon);
  const float* rs = rstd.data();
  std::vector<double> sg(c, 0.0), sb(c, 0.0);
  GradientSums(dy_in, x_in, mu, rs, 0, rows, c, sg.data(), sb.data());
  float* dg = Data(dgamma);
  float* db = Data(dbeta);
  // dx = a·dy + b·x + d per channel, with a = γ·rstd, b = -γ·rstd²·dγ/M, d = -γ·rstd·dβ/M - b·mean.
  std::vector<float> ca(c), cb(c), cd(c);
  const float m = static_cast<float>(rows);
  for (int64_t k = 0; k < c; ++k) {
    dg[k] = static_cast<float>(sg[k]);
    db[k] = static_cast<float>(sb[k]);
    ca[k] = g[k] * rs[k];
    cb[k] = -g[k] * rs[k] * rs[k] * dg[k] / m;
    cd[k] = -g[k] * rs[k] * db[k] / m - cb[k] * mu[k];
  }
  float* out = Data(dx);
  const float *pa = ca.data(), *pb = cb.data(), *pd = cd.data();
  GradientInput(dy_in, x_in, pa, pb, pd, out, 0, rows, c);
}

void RegisterOp(const char* signature_name, const std::vector<const char*>& inputs, const std::vector<const char*>& outputs, const std::vector<const char*>& attrs) {
  Status status;
  TF_OpDefinitionBuilder* op = TF_NewOpDefinitionBuilder(signature_name);
  for (const char* i : inputs) TF_OpDefinitionBuilderAddInput(op, i);
  for (const char* o : outputs) TF_OpDefinitionBuilderAddOutput(op, o);
  for (const char* a : attrs) TF_OpDefinitionBuilderAddAttr(op, a);
  TF_RegisterOpDefinition(op, status.s);
}

void RegisterKernel(const char* op, void* (*create)(TF_OpKernelConstruction*), void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*)) {
  Status status;
  TF_KernelBuilder* builder = TF_NewKernelBuilder(op, "CPU", create, compute, destroy);
  TF_RegisterKernelBuilder((std::string(op) + "Op").c_str(), builder, status.s);
}

// Registered when the binding is loaded (after libtensorflow, which it links).
struct Registration {
  Registration() {
    RegisterOp("KitLayerNorm", {"x: float", "gamma: float", "beta: float"}, {"y: float", "mean: float", "rstd: float"}, {"epsilon: float = 1e-6"});
    RegisterKernel("KitLayerNorm", CreateEpsilon, ComputeLayerNorm, DeleteEpsilon);
    RegisterOp("KitLayerNormGrad", {"dy: float", "x: float", "gamma: float", "mean: float", "rstd: float"}, {"dx: float", "dgamma: float", "dbeta: float"}, {});
    RegisterKernel("KitLayerNormGrad", nullptr, ComputeLayerNormGrad, nullptr);
    RegisterOp("KitBatchNorm", {"x: float", "gamma: float", "beta: float"}, {"y: float", "mean: float", "variance: float"}, {"epsilon: float = 1e-5"});
    RegisterKernel("KitBatchNorm", CreateEpsilon, ComputeBatchNorm, DeleteEpsilon);
    RegisterOp("KitBatchNormGrad", {"dy: float", "x: float", "gamma: float", "mean: float", "variance: float"}, {"dx: float", "dgamma: float", "dbeta: float"}, {"epsilon: float = 1e-5"});
    RegisterKernel("KitBatchNormGrad", CreateEpsilon, ComputeBatchNormGrad, DeleteEpsilon);
  }
} registration;

}  // namespace
