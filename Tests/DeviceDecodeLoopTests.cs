using ILGPU;
using ILGPU.Runtime;
using Engine.Generation;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The device-resident decode loop (chunks of k steps, one host round trip each) against the step-by-step device
/// path (chunk 0), on ILGPU's CPU accelerator: the same token ids, log-prob bits, finish reasons and texts, with rows
/// finishing at EOS, at stop strings and at their budgets in the middle of chunks, with and without compaction; the
/// generator left in the same state; and far fewer host↔device copies per token.
/// </summary>
[NonParallelizable]
public class DeviceDecodeLoopTests
{
    static GpuBackend gpu = null!;
    static GpuBackend Gpu => gpu;
    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu");
    [OneTimeTearDown] public void Close() => gpu.Dispose();
    static readonly CharTokenizer Tok = new();

    static Transformer Model(string preset, int context = 40, int seed = 6, float eosBoost = 0f)
    {
        var model = new Transformer(ModelConfig.Preset(preset, Tok.VocabSize, context), Gpu, seed);
        if (eosBoost > 0)
        {
            // A larger EOS row in the head makes EOS likely at some steps and not others: rows end at EOS mid-chunk.
            var head = model.LmHead ?? model.Embed;
            var w = head.Data.ToArray();
            int C = model.Config.Hidden;
            for (int c = 0; c < C; c++) w[Tok.EosId * C + c] *= eosBoost;
            head.Data.CopyFrom(w);
        }
        return model;
    }

    static List<int[]> Prompts(params string[] texts) => texts.Select(Tok.Encode).ToList();

    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    static void Same(Completion[] expected, Completion[] actual)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int b = 0; b < expected.Length; b++)
        {
            Assert.That(actual[b].Ids, Is.EqualTo(expected[b].Ids), $"row {b}: ids");
            Assert.That(actual[b].Logprobs.Select(BitConverter.SingleToInt32Bits),
                Is.EqualTo(expected[b].Logprobs.Select(BitConverter.SingleToInt32Bits)), $"row {b}: log-prob bits");
            Assert.That(actual[b].FinishReason, Is.EqualTo(expected[b].FinishReason), $"row {b}: finish reason");
            Assert.That(actual[b].Text, Is.EqualTo(expected[b].Text), $"row {b}: text");
        }
    }

    /// <summary>Step by step and in chunks from the same seed: the same completions, the generator left alike.</summary>
    static Completion[] Compare(Transformer model, List<int[]> prompts, SamplingOptions o, int chunk, bool compact,
        int seed = 2)
    {
        var (rngStep, rngChunk) = (new Rng(seed), new Rng(seed));
        var stepwise = Generator.Generate(model, Tok, prompts, o, rngStep, onDevice: true, compact: compact, chunk: 0);
        var chunked = Generator.Generate(model, Tok, prompts, o, rngChunk, onDevice: true, compact: compact, chunk: chunk);
        Same(stepwise, chunked);
        Assert.That(rngChunk.State, Is.EqualTo(rngStep.State), "the chunks consumed exactly the step-by-step uniforms");
        return chunked;
    }

    [TestCase(true), TestCase(false)]
    public void StopStringsMidChunkGiveTheStepByStepCompletions(bool compact)
    {
        var prompts = Prompts("12+7=", "3+45=", "9=", "100+1=", "7+7=", "2=");
        // Any digit stops a row, so rows stop at different steps, mostly inside a chunk of 4.
        var o = new SamplingOptions(MaxNewTokens: 20, Temperature: 1f, TopK: 30, TopP: 0.95f, Stop: Digits);
        var result = Compare(Model("micro"), prompts, o, chunk: 4, compact);
        Assert.That(result.Select(c => c.Ids.Length).Distinct().Count(), Is.GreaterThan(1), "rows end at different steps");
        Assert.That(result.Count(c => c.FinishReason == "stop"), Is.GreaterThan(1));
    }

    [TestCase(true), TestCase(false)]
    public void EosMidChunkGivesTheStepByStepCompletions(bool compact)
    {
        var prompts = Prompts("12+7=", "3+45=", "9=", "100+1=", "7+7=", "2=", "41+", "5");
        var o = new SamplingOptions(MaxNewTokens: 24, Temperature: 1f);
        var result = Compare(Model("micro-llama", eosBoost: 6f), prompts, o, chunk: 5, compact);
        var eos = result.Where(c => c.FinishReason == "eos").ToList();
        Assert.That(eos, Is.Not.Empty, "some rows end at EOS");
        Assert.That(eos.Any(c => c.Ids.Length % 5 != 0), "an EOS inside a chunk");
        Assert.That(result.Any(c => c.FinishReason != "eos"), "and others go on");
    }

    [TestCase(1), TestCase(3), TestCase(50)]
    public void ChunkSizesFromOneToBeyondTheBudgetGiveTheSameCompletions(int chunk)
    {
        var prompts = Prompts("7", "12+7=", "3+4");                      // a one-token prompt among them
        var o = new SamplingOptions(MaxNewTokens: 12, Temperature: 0.8f, Stop: ["5"]);
        Compare(Model("micro"), prompts, o, chunk, compact: true);
    }

    [Test]
    public void GreedyWithStopsAndTheContextEndGivesTheSameCompletions()
    {
        // Context 12: rows reach the cache's end before their budget of 30 ("length" by position).
        var prompts = Prompts("1", "12+7=", "3+45=1");
        var o = new SamplingOptions(MaxNewTokens: 30, Temperature: 0f, Stop: ["8"]);
        var result = Compare(Model("micro-llama", context: 12), prompts, o, chunk: 4, compact: true);
        Assert.That(result.Any(c => c.FinishReason == "length"), "some row runs to the context's end");
    }

    [Test]
    public void TheSameSeedGivesTheSameBitsTwice()
    {
        var model = Model("micro-llama", eosBoost: 4f);
        var prompts = Prompts("12+7=", "3+45=", "9=", "100+1=");
        var o = new SamplingOptions(MaxNewTokens: 16, Temperature: 1f, TopP: 0.9f, Stop: ["0"]);
        var first = Generator.Generate(model, Tok, prompts, o, new Rng(9), onDevice: true, chunk: 8);
        var second = Generator.Generate(model, Tok, prompts, o, new Rng(9), onDevice: true, chunk: 8);
        Same(first, second);
    }

    [Test]
    public void ChunksCutTheHostDeviceCopiesPerToken()
    {
        var model = Model("micro");
        var prompts = Prompts("12+7=", "3+45=", "9=", "100+1=");
        const int tokens = 16, chunk = 8;
        var o = new SamplingOptions(MaxNewTokens: tokens, Temperature: 1f);
        (long Copies, int Tokens) Run(int k, SamplingOptions options)
        {
            long before = Gpu.Transfers.ToDevice + Gpu.Transfers.ToHost;
            var c = Generator.Generate(model, Tok, prompts, options, new Rng(4), onDevice: true, compact: false, chunk: k);
            return (Gpu.Transfers.ToDevice + Gpu.Transfers.ToHost - before, c.Sum(x => x.Ids.Length));
        }
        var prefillAndOne = Run(chunk, o with { MaxNewTokens = 1 });     // the prefill's copies, then one chunk's two
        var chunked = Run(chunk, o);
        var stepwise = Run(0, o);
        long prefill = prefillAndOne.Copies - 2;
        TestContext.Out.WriteLine($"copies: prefill {prefill}; chunked {chunked.Copies} for {chunked.Tokens} tokens; " +
            $"step by step {stepwise.Copies} for {stepwise.Tokens}");
        Assert.That(chunked.Tokens, Is.EqualTo(stepwise.Tokens));
        int steps = chunked.Tokens / prompts.Count;
        Assert.That(chunked.Copies - prefill, Is.LessThanOrEqualTo(2 * ((steps + chunk - 1) / chunk)),
            "one upload and one readback per chunk after the prefill");
        Assert.That(stepwise.Copies - prefill, Is.GreaterThanOrEqualTo(3L * (steps - 1)),
            "step by step: at least the uniforms up and the tokens and log-probs back per step");

        // Rows stopping at stop strings one after another: redone chunks still keep at least one step each, so the
        // loop never needs more round trips than steps.
        var stops = o with { Stop = Digits };
        var (stopCopies, stopTokens) = Run(chunk, stops);
        var (stepCopies, _) = Run(0, stops);
        TestContext.Out.WriteLine($"with stop strings: chunked {stopCopies} copies, step by step {stepCopies}, " +
            $"{stopTokens} tokens");
        Assert.That(stopCopies, Is.LessThan(stepCopies));
    }

    [Test]
    public void WithoutCudaThereIsNoGraphAndNoWarning()
    {
        bool ran = false;
        var graph = ((IDeviceDecode)Gpu).Capture(() => ran = true, out string? why);
        Assert.That(graph, Is.Null);
        Assert.That(why, Is.Null, "not a failure: the CPU accelerator has no graphs, so the step runs directly");
        Assert.That(ran, Is.False);
    }

    [Test]
    public void BuffersRentedDuringACaptureWaitForTheGraphBeforeReuse()
    {
        // A graph keeps the addresses it captured: memory its step rented must not go to another tensor while it
        // lives. An odd size class (7 Mi floats) keeps other tests' buffers out of the free list used here.
        var pool = Gpu.Floats;
        const long size = 7L << 20;
        pool.BeginHold();
        var captured = pool.Rent(size);
        var held = pool.EndHold();
        pool.Return(captured);                                 // the step's temporary, collected after capture
        var other = pool.Rent(size);
        Assert.That(other, Is.Not.SameAs(captured), "held memory is not handed out while the graph lives");
        pool.Release(held);
        var again = pool.Rent(size);
        Assert.That(again, Is.SameAs(captured), "released with the graph, it is reused");
        pool.Return(other);
        pool.Return(again);
    }

    [Test]
    public void AHostUploadInsideACaptureIsRefused()
    {
        // Uploads go to the default stream, outside a graph captured on another: a captured step that uploaded
        // would replay the capture's values. Refused, Capture turns that into "no graph" and the step runs directly.
        var launch = Gpu.Launch;
        using var stream = Gpu.Accelerator.CreateStream();
        try
        {
            launch.Stream = stream;
            Assert.That(() => launch.Upload([1, 2, 3]),
                Throws.InvalidOperationException.With.Message.Contains("captured step"));
        }
        finally { launch.Stream = Gpu.Accelerator.DefaultStream; }
        using var ids = launch.Upload([1, 2, 3]);
        var back = new int[3];
        ids.View.SubView(0, 3).CopyToCPU(back);
        Assert.That(back, Is.EqualTo(new[] { 1, 2, 3 }), "on the default stream it uploads");
    }
}
