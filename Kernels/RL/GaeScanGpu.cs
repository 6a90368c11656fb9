using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.RL;

/// <summary>
/// GAE version 2: a chunked parallel scan, one group per sequence. With masks, the reference's
/// backward walk is two first-order linear recurrences (RlCpu.Gae is the definition):
///   Nₜ = mₜ₊₁·vₜ₊₁ + (1 − mₜ₊₁)·Nₜ₊₁        the value of the next unmasked step (0 past the end)
///   Aₜ = dₜ + cₜ·Aₜ₊₁,  dₜ = mₜ·(rₜ + γNₜ − vₜ), cₜ = mₜ ? γλ : 1
/// Each is an affine map of its right neighbour, and affine maps compose associatively. Each thread
/// owns a contiguous chunk: it composes its chunk's map for N, one thread carries the chunk
/// boundaries right to left, then the same for A, then every thread walks its chunk with both
/// carries known and writes advantages and returns. Fixed order throughout: deterministic.
/// </summary>
public static class GaeScanGpu
{
    const int MaxThreads = 256;

    static void Kernel(ArrayView<float> r, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> adv, ArrayView<float> ret,
        int steps, float gamma, float lambda)
    {
        var mapN = SharedMemory.Allocate<float>(2 * MaxThreads);    // per chunk: (offset, multiplier) of N_t0 as a map of N_t1
        var mapA = SharedMemory.Allocate<float>(2 * MaxThreads);
        var carryN = SharedMemory.Allocate<float>(MaxThreads);      // N and A entering each chunk from its right
        var carryA = SharedMemory.Allocate<float>(MaxThreads);
        int j = Group.IdxX, threads = Group.DimX;
        int chunk = (steps + threads - 1) / threads;
        int t0 = j * chunk, t1 = t0 + chunk < steps ? t0 + chunk : steps;
        long o = (long)Grid.IdxX * steps;
        float gl = gamma * lambda;

        // 1. The chunk's map for N.
        float e = 0f, g = 1f;
        for (int t = t1 - 1; t >= t0; t--)
        {
            float et = 0f, gt = 0f;                                  // past the end: N = 0
            if (t + 1 < steps)
            {
                bool next = mask[o + t + 1] != 0f;
                et = next ? v[o + t + 1] : 0f;
                gt = next ? 0f : 1f;
            }
            e = et + gt * e;
            g = gt * g;
        }
        mapN[2 * j] = e;
        mapN[2 * j + 1] = g;
        Group.Barrier();
        if (j == 0) Carries(mapN, carryN, threads);
        Group.Barrier();

        // 2. The chunk's map for A, with N now known at every step of the chunk.
        float n = carryN[j], d = 0f, cm = 1f;
        for (int t = t1 - 1; t >= t0; t--)
        {
            if (t + 1 < steps) n = mask[o + t + 1] != 0f ? v[o + t + 1] : n;
            else n = 0f;
            bool on = mask[o + t] != 0f;
            float dt = on ? r[o + t] + gamma * n - v[o + t] : 0f;
            float ct = on ? gl : 1f;
            d = dt + ct * d;
            cm = ct * cm;
        }
        mapA[2 * j] = d;
        mapA[2 * j + 1] = cm;
        Group.Barrier();
        if (j == 0) Carries(mapA, carryA, threads);
        Group.Barrier();

        // 3. Walk the chunk with both carries: advantages and returns.
        n = carryN[j];
        float a = carryA[j];
        for (int t = t1 - 1; t >= t0; t--)
        {
            if (t + 1 < steps) n = mask[o + t + 1] != 0f ? v[o + t + 1] : n;
            else n = 0f;
            float vt = v[o + t];
            if (mask[o + t] != 0f) a = r[o + t] + gamma * n - vt + gl * a;
            adv[o + t] = a;
            ret[o + t] = a + vt;
        }
    }

    /// <summary>One thread, right to left: what enters each chunk from its right, given each chunk's (offset, multiplier).</summary>
    static void Carries(ArrayView<float> maps, ArrayView<float> carries, int chunks)
    {
        float carry = 0f;
        for (int c = chunks - 1; c >= 0; c--)
        {
            carries[c] = carry;
            carry = maps[2 * c] + maps[2 * c + 1] * carry;
        }
    }

    public static void Run(LaunchContext k, ArrayView<float> r, ArrayView<float> v, ArrayView<float> mask, ArrayView<float> adv,
        ArrayView<float> ret, int batch, int steps, float gamma, float lambda)
    {
        if (batch == 0 || steps == 0) return;
        int threads = Math.Min(Math.Min(MaxThreads, k.MaxGroup), steps);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(Kernel)(
            new KernelConfig(batch, threads), r, v, mask, adv, ret, steps, gamma, lambda);
    }
}
