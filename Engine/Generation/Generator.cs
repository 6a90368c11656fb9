using Engine.Autograd;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Generation;

/// <summary>One sampled continuation: its token ids (EOS included if produced), their log-probs, the text.</summary>
public sealed record Completion(int[] PromptIds, int[] Ids, float[] Logprobs, string Text, string FinishReason);

/// <summary>
/// Batched generation with a KV cache. Prompts may differ in length: they are right-padded for
/// one prefill forward, and each row then decodes at its own position (the cache attends over
/// 0..position only, so padding is never seen). Stops per row at EOS, at a stop string (kept in
/// the text, as the reasoning format ends with "&lt;/answer&gt;"), or at the token budget.
/// </summary>
public static class Generator
{
    /// <param name="onDevice">
    /// Draw tokens on the device (the IBackend's SampleTokens: only ids and log-probs come back, not the
    /// [B, V] logits) or on the host (Sampler). Default: on the device for a GPU backend, on the host for the
    /// CPU backend. Both consume the same uniforms from <paramref name="rng"/> (one per unfinished row per
    /// step, in row order; none when greedy), but the device walks the kept tokens in vocabulary order and the
    /// host by descending probability, so the same seed draws from the same distribution, not the same tokens.
    /// Greedy decoding gives the same tokens either way.
    /// </param>
    /// <param name="compact">
    /// Drop finished rows from the batch and its KV cache instead of decoding pad tokens for them to the end.
    /// Default: with device sampling. On the CPU backend the GEMM's edge tiles sum in another order than its
    /// full tiles, so moving a row changes its last bits; the GPU kernels compute every row the same way.
    /// </param>
    /// <param name="draws">Where the sampling uniforms come from (default: <paramref name="rng"/>, row by row).</param>
    /// <param name="chunk">
    /// With device sampling on a backend with device decode (a GPU's): decode in chunks of this many steps with one
    /// host round trip each (<see cref="DeviceDecodeLoop"/>; the same completions); 0 decodes step by step. Default:
    /// the backend's DecodeChunk (--decode-chunk). Draws that cannot be read ahead (a data-parallel run's shared
    /// ones, which the ranks exchange every step) and budget forcing (host sampling) keep the step-by-step path.
    /// </param>
    public static Completion[] Generate(Transformer model, ITokenizer tokenizer, IReadOnlyList<int[]> prompts, SamplingOptions o, Rng rng,
        bool? onDevice = null, bool? compact = null, IRowDraws? draws = null, int? chunk = null)
    {
        draws ??= new LocalDraws(rng);
        o.Validate();
        int B = prompts.Count;
        if (B == 0) { draws.Finish(); return []; }
        int context = model.Config.MaxPositions;
        foreach (var p in prompts)
        {
            if (p.Length == 0) throw new ArgumentException("generate: a prompt is empty");
            if (p.Length >= context)
                throw new ArgumentException($"generate: a prompt of {p.Length} tokens leaves no room in the context " +
                    $"of {context}");
        }
        using var _ = GradMode.Disable();
        int promptMax = prompts.Max(p => p.Length);
        int total = Math.Min(context, promptMax + o.MaxNewTokens);
        var cache = new KvCache(model, B, total);
        int V = model.Config.VocabSize, C = model.Config.Hidden;

        // Prefill: every prompt at positions 0..len−1 (padding after it is overwritten as the row decodes).
        var ids = new int[B * promptMax];
        for (int b = 0; b < B; b++)
        {
            Array.Fill(ids, tokenizer.PadId, b * promptMax, promptMax);
            prompts[b].CopyTo(ids, b * promptMax);
        }
        var hidden = model.Hidden(ids, B, promptMax, cache);                                      // [B, promptMax, C]
        // Each prompt's last row, gathered on the device.
        var lastRows = Enumerable.Range(0, B).Select(b => b * promptMax + prompts[b].Length - 1).ToArray();
        var logits = model.Logits(Ops.Embedding(Ops.Reshape(hidden, B * promptMax, C), lastRows));        // [B, V]
        var budget = o.ForcesBudget ? Budget(tokenizer, o) : null;
        var thinking = budget is null ? null : prompts.Select(budget.Start).ToArray();
        // Budget forcing edits and overrides rows of logits: it samples on the host.
        bool device = (onDevice ?? !IsCpu(model.Backend)) && budget is null;

        var generated = Enumerable.Range(0, B).Select(_ => new List<int>()).ToArray();
        var logprobs = Enumerable.Range(0, B).Select(_ => new List<float>()).ToArray();
        var finish = new string?[B];
        int steps = chunk ?? (model.Backend as Kernels.IDeviceDecode)?.DecodeChunk ?? 0;
        if (steps < 0) throw new ArgumentException($"generate: the decode chunk must be >= 0 steps, got {steps}");
        if (device && steps > 0 && model.Backend is Kernels.IDeviceDecode && draws is IAheadDraws ahead)
        {
            using (var loop = new DeviceDecodeLoop(model, tokenizer, prompts, o, ahead, total, steps, generated, logprobs,
                       finish))
                loop.Run(logits, cache, compact ?? true);
            draws.Finish();
            return Completions(tokenizer, prompts, o, generated, logprobs, finish);
        }
        var draw = device ? new DeviceDraw(model.Backend, B) : null;
        // live[i]: the prompt that batch row i decodes. Without compaction every row decodes (finished rows
        // take pad steps) to the end; with it, finished rows leave the batch and its KV cache.
        int[] live = Enumerable.Range(0, B).ToArray();
        bool compactRows = compact ?? device;
        for (int step = 0; ; step++)
        {
            int rows = live.Length;
            // The uniforms of this step, by prompt: one for each row that draws (not finished, not forced, not greedy).
            var need = new bool[B];
            foreach (int b in live)
                need[b] = finish[b] is null && o.Temperature > 0 && budget?.Forced(thinking![b]) is null;
            var uniforms = draws.Next(need);
            var sampled = draw?.Next(logits, live.Select(b => uniforms[b]).ToArray(),
                live.Select(b => need[b]).ToArray(), V, o);
            float[]? hostLogits = sampled is null ? logits.ToArray() : null;
            var next = new int[rows];
            var positions = new int[rows];
            for (int i = 0; i < rows; i++)
            {
                int b = live[i];
                positions[i] = prompts[b].Length + step;
                if (finish[b] is not null) { next[i] = tokenizer.PadId; continue; }
                int? forced = budget?.Forced(thinking![b]);
                var (token, lp) = forced is int f ? (f, LogProb(hostLogits.AsSpan(i * V, V), f, o.Temperature))
                    : sampled is not null ? sampled[i]
                    : Sampler.Sample(Suppress(hostLogits.AsSpan(i * V, V), budget?.Suppressed(thinking![b])), o,
                        uniforms[b]);
                if (budget is not null && forced is null && budget.Replace(thinking![b], token) is int r && r != token)
                    (token, lp) = (r, LogProb(hostLogits.AsSpan(i * V, V), r, o.Temperature));   // s1's "Wait"
                budget?.Emitted(thinking![b], token);
                generated[b].Add(token);
                logprobs[b].Add(lp);
                next[i] = token;
                finish[b] = Ends(tokenizer, o, generated[b], positions[i], total);
            }
            if (finish.All(f => f is not null)) break;
            if (compactRows)
            {
                int[] keep = Enumerable.Range(0, rows).Where(i => finish[live[i]] is null).ToArray();
                if (keep.Length < rows)
                {
                    cache = cache.Keep(keep);
                    (live, next, positions) = (keep.Select(i => live[i]).ToArray(), keep.Select(i => next[i]).ToArray(),
                        keep.Select(i => positions[i]).ToArray());
                    draw?.Dispose();
                    draw = device ? new DeviceDraw(model.Backend, live.Length) : null;
                }
            }
            // Rows that finished (without compaction) still take a (pad) step at a valid position; it is ignored.
            for (int i = 0; i < positions.Length; i++) positions[i] = Math.Min(positions[i], total - 1);
            logits = model.Logits(model.Hidden(next, live.Length, 1, cache, positions));
        }

        draw?.Dispose();
        draws.Finish();
        return Completions(tokenizer, prompts, o, generated, logprobs, finish);
    }

    /// <summary>
    /// Why a row ends after taking its latest token (null: it goes on): EOS, a stop string in its text, its token
    /// budget, or the cache's end (position: where the token is fed next). Both decode paths decide with this.
    /// </summary>
    internal static string? Ends(ITokenizer tokenizer, SamplingOptions o, List<int> generated, int position, int total)
    {
        if (generated[^1] == tokenizer.EosId) return "eos";
        if (o.Stop is { Length: > 0 } && StopAt(tokenizer.Decode(generated), o.Stop) >= 0) return "stop";
        if (generated.Count >= o.MaxNewTokens || position + 1 >= total) return "length";
        return null;
    }

    static Completion[] Completions(ITokenizer tokenizer, IReadOnlyList<int[]> prompts, SamplingOptions o,
        List<int>[] generated, List<float>[] logprobs, string?[] finish)
    {
        var result = new Completion[prompts.Count];
        for (int b = 0; b < prompts.Count; b++)
        {
            var gen = generated[b];
            string text = tokenizer.Decode(gen[^1] == tokenizer.EosId ? gen.Take(gen.Count - 1) : gen);
            if (finish[b] == "stop") text = text[..StopAt(text, o.Stop!)];
            result[b] = new Completion(prompts[b], gen.ToArray(), logprobs[b].ToArray(), text, finish[b]!);
        }
        return result;
    }

    static ThinkBudget Budget(ITokenizer tokenizer, SamplingOptions o)
    {
        int[] think = tokenizer.Encode("<think>"), end = tokenizer.Encode("</think>");
        if (think.Length != 1 || end.Length != 1)
            throw new ArgumentException("sampling: thinking budgets need <think> and </think> as single tokens " +
                "(the char tokenizer's are; GPT-2's BPE splits them)");
        return new ThinkBudget(think[0], end[0], tokenizer.EosId, o.ThinkMin, o.ThinkMax,
            o.ThinkWait is null ? null : tokenizer.Encode(o.ThinkWait));
    }

    /// <summary>The row with the given tokens made impossible (−∞), or the row itself when there are none.</summary>
    static ReadOnlySpan<float> Suppress(ReadOnlySpan<float> row, int[]? ids)
    {
        if (ids is null || ids.Length == 0) return row;
        var copy = row.ToArray();
        foreach (int id in ids) copy[id] = float.NegativeInfinity;
        return copy;
    }

    /// <summary>log softmax(row / T)[id] (T = 1 when greedy): a forced token's log-probability under the model.</summary>
    static float LogProb(ReadOnlySpan<float> row, int id, float temperature)
    {
        float t = temperature > 0 ? temperature : 1f;
        double max = double.NegativeInfinity, sum = 0;
        foreach (float x in row) max = Math.Max(max, x / t);
        foreach (float x in row) sum += Math.Exp(x / t - max);
        return (float)(row[id] / t - max - Math.Log(sum));
    }

    static bool IsCpu(Kernels.IBackend backend) => backend is Kernels.CpuBackend or Kernels.TimingBackend { Inner: Kernels.CpuBackend };

    /// <summary>Per step: the rows' uniforms up, SampleTokens on the device, B tokens and log-probs back.</summary>
    sealed class DeviceDraw(Kernels.IBackend backend, int rows) : IDisposable
    {
        public void Dispose()
        {
            uniforms.Dispose();
            tokens.Dispose();
            logprobs.Dispose();
        }

        readonly Kernels.DeviceBuffer uniforms = backend.Allocate(rows), tokens = backend.Allocate(rows),
            logprobs = backend.Allocate(rows);
        readonly float[] u = new float[rows];

        public (int Token, float Logprob)[] Next(Tensor logits, double[] drawn, bool[] need, int vocab,
            SamplingOptions o)
        {
            for (int b = 0; b < rows; b++) u[b] = need[b] ? MathF.Min((float)drawn[b], 0.99999994f) : 0f;
            uniforms.CopyFrom(u);
            backend.SampleTokens(logits.Data, uniforms, tokens, logprobs, rows, vocab, o.Temperature, o.TopK, o.TopP);
            var ids = tokens.ToArray();
            var lps = logprobs.ToArray();
            return ids.Select((t, b) => ((int)t, lps[b])).ToArray();
        }
    }

    /// <summary>The end (exclusive) of the first stop string in text, or −1.</summary>
    static int StopAt(string text, string[] stops)
    {
        int best = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i + s.Length < best)) best = i + s.Length;
        }
        return best;
    }
}
