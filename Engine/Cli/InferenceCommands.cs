using System.Text.Json;
using CommandLine;
using Engine.Data;
using Engine.Generation;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

[Verb("sample", HelpText = "Generate continuations of a prompt from a checkpoint (KV cache, temperature, top-k, top-p).")]
sealed class SampleOptions : CheckpointOptions
{
    [Option("prompt", Default = "", HelpText = "Prompt text (required).")]
    public string Prompt { get; set; } = "";
    [Option("num-samples", Default = 1, HelpText = "Completions to draw (one batch).")]
    public int NumSamples { get; set; }
    [Option("max-new-tokens", Default = 64, HelpText = "Token budget per completion.")]
    public int MaxNewTokens { get; set; }
    [Option("temperature", Default = 1f, HelpText = "Softmax temperature; 0 = greedy.")]
    public float Temperature { get; set; }
    [Option("top-k", Default = 0, HelpText = "Keep the k most likely tokens (0 = off).")]
    public int TopK { get; set; }
    [Option("top-p", Default = 1f, HelpText = "Nucleus: keep the smallest set with this probability mass (1 = off).")]
    public float TopP { get; set; }
    [Option("think-min", Default = 0, HelpText = "Budget forcing: no </think> (nor end of text) before this many thinking tokens.")]
    public int ThinkMin { get; set; }
    [Option("think-max", Default = -1, HelpText = "Budget forcing: </think> forced after this many thinking tokens (-1: no limit).")]
    public int ThinkMax { get; set; }
    [Option("think-wait", HelpText = "With --think-min: write this text (e.g. \" Wait\") in place of a </think> drawn " +
        "before the minimum, as s1 does, instead of only holding it back.")]
    public string? ThinkWait { get; set; }
    [Option("stop", HelpText = "Stop strings (repeatable, e.g. --stop \"</answer>\"); kept in the text.")]
    public IEnumerable<string> Stop { get; set; } = [];
    [Option("warmup", Default = 0,
        HelpText = "Untimed generations before the timed one (kernel compilation, CUDA graph capture), so the " +
            "decode tokens/s printed on stderr is the steady state.")]
    public int Warmup { get; set; }
    [Option("json", Default = false,
        HelpText = "Print one JSON object per completion (text, token ids, logprobs, finish reason) and nothing else on stdout.")]
    public bool Json { get; set; }
}

[Verb("eval", HelpText = "Held-out loss and perplexity of a checkpoint on a text file or a prompt/completion JSONL.")]
sealed class EvalOptions : CheckpointOptions
{
    [Option("data", HelpText = "Loss mode: a .txt file (next-token loss on all of it) or a .jsonl of " +
        "{\"prompt\",\"completion\"} (completion tokens only). Task mode: a .jsonl of {\"prompt\",\"answer\"} " +
        "problems.")]
    public string? Data { get; set; }
    [Option("task", HelpText = "Task mode: arithmetic | countdown | multisum — pass@1, pass@k, maj@k on the held-out " +
        "split (or on --data).")]
    public string? Task { get; set; }
    [Option("n-problems", Default = 200, HelpText = "Task mode: held-out problems (short form: --n).")]
    public int N { get; set; }
    [Option("k-samples", Default = 4, HelpText = "Task mode: samples per problem for pass@k and maj@k (short form: --k).")]
    public int K { get; set; }
    [Option("temperature", Default = 1f, HelpText = "Task mode: sampling temperature of the k samples.")]
    public float Temperature { get; set; }
    [Option("sampled-pass1", Default = false, HelpText = "Task mode: pass@1 as the mean over the k samples instead of one greedy answer.")]
    public bool SampledPass1 { get; set; }
    [Option("max-new-tokens", Default = 48, HelpText = "Task mode: completion budget.")]
    public int MaxNewTokens { get; set; }
    [Option("think-min", Default = 0, HelpText = "Task mode: budget forcing, no </think> before this many thinking tokens.")]
    public int ThinkMin { get; set; }
    [Option("think-max", Default = -1, HelpText = "Task mode: budget forcing, </think> forced after this many thinking tokens.")]
    public int ThinkMax { get; set; }
    [Option("think-wait", HelpText = "Task mode, with --think-min: this text replaces a </think> drawn before the " +
        "minimum (s1's \"Wait\").")]
    public string? ThinkWait { get; set; }
    [Option("batch", Default = 8, HelpText = "Sequences per batch.")]
    public int Batch { get; set; }
    [Option("thinking", HelpText = "Task mode: on | off — off asks every problem with the prompt marker \" /no_think\" " +
        "(answer directly); the result's think_rate is the share of completions that open <think>.")]
    public string? Thinking { get; set; }
    [Option("reward-model", HelpText = "Task mode: best-of-j for j = 1, 2, 4, ... k — the k samples scored by this reward " +
        "model (either head), the highest-scored answer checked.")]
    public string? RewardModel { get; set; }
    [Option("budgets", Separator = ',', HelpText = "Task mode: thinking budgets, e.g. 0,8,16,32 — pass@1 and mean thinking " +
        "length at each, </think> forced at the budget (budget forcing).")]
    public IEnumerable<int> Budgets { get; set; } = [];
    [Option("budget-in-prompt", Default = false, HelpText = "Task mode, with --budgets: ask for each budget on the " +
        "prompt (\" /budget N\", what L1 length-control training teaches) instead of forcing </think>.")]
    public bool BudgetInPrompt { get; set; }
    [Option("plot", HelpText = "Task mode: a PNG of accuracy against samples per problem (pass@j, maj@j, best-of-j), or " +
        "against the budget with --budgets.")]
    public string? Plot { get; set; }
    [Option("json", Default = false, HelpText = "Print one JSON object on stdout (banners go to stderr).")]
    public bool Json { get; set; }
}

[Verb("tokenize", HelpText = "Read text on stdin, print its token ids as a JSON array (or, with --decode, ids → text).")]
sealed class TokenizeOptions : VerbOptions
{
    [Option("tokenizer", Default = "gpt2", HelpText = "gpt2 or char.")]
    public string Tokenizer { get; set; } = "gpt2";
    [Option("decode", Default = false, HelpText = "Read a JSON array of ids on stdin and print the text.")]
    public bool Decode { get; set; }
}

static class InferenceCommands
{
    /// <summary>
    /// With --json, stdout carries the JSON alone: everything else the verb prints (device and model
    /// banners) is sent to stderr, and the returned writer is the real stdout.
    /// </summary>
    public static TextWriter JsonOut(bool json)
    {
        var stdout = Console.Out;
        if (json) Console.SetOut(Console.Error);
        return stdout;
    }

    public static int Sample(SampleOptions o)
    {
        if (o.Checkpoint is null) throw new ArgumentException("sample: --checkpoint DIR is required");
        if (o.Prompt.Length == 0) throw new ArgumentException("sample: --prompt is required");
        Check.AtLeast(o.NumSamples, 1, "--num-samples");
        Check.AtLeast(o.MaxNewTokens, 1, "--max-new-tokens");
        var stdout = JsonOut(o.Json);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (model, tokenizer) = ModelSetup.Create(o, backend);
        var options = new SamplingOptions(o.MaxNewTokens, o.Temperature, o.TopK, o.TopP, o.Stop.ToArray(), o.ThinkMin, o.ThinkMax,
            o.ThinkWait);
        options.Validate();
        var prompt = tokenizer.Encode(o.Prompt);
        Check.AtLeast(o.Warmup, 0, "--warmup");
        var prompts = Enumerable.Repeat(prompt, o.NumSamples).ToList();
        for (int w = 0; w < o.Warmup; w++) Generator.Generate(model, tokenizer, prompts, options, new Rng(o.Seed));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var completions = Generator.Generate(model, tokenizer, prompts, options, new Rng(o.Seed));
        double seconds = clock.Elapsed.TotalSeconds;
        long tokens = completions.Sum(c => (long)c.Ids.Length);
        // The prefill and the host's share are in the time; process start and model load are not.
        Console.Error.WriteLine($"decode: {tokens} new tokens in {seconds:F3} s, {tokens / seconds:F1} tokens/s " +
            $"({o.NumSamples} sequences, prefill included{(o.Warmup > 0 ? $", after {o.Warmup} warm-up runs" : "")})");
        foreach (var c in completions)
        {
            if (o.Json)
                stdout.WriteLine(Json.Serialize(new Dictionary<string, object>
                {
                    ["prompt"] = o.Prompt, ["completion"] = c.Text, ["ids"] = c.Ids, ["logprobs"] = c.Logprobs,
                    ["finish_reason"] = c.FinishReason, ["sum_logprob"] = c.Logprobs.Sum(),
                }));
            else
                stdout.WriteLine($"{o.Prompt}{c.Text}    [{c.FinishReason}, {c.Ids.Length} tokens, logp {c.Logprobs.Sum():F2}]");
        }
        return 0;
    }

    public static int Eval(EvalOptions o)
    {
        if (o.Checkpoint is null) throw new ArgumentException("eval: --checkpoint DIR is required");
        if (o.Task is not null) return EvalTask(o);
        if (o.Data is null) throw new ArgumentException("eval: give --data FILE (loss) or --task NAME (pass@k)");
        if (!File.Exists(o.Data)) throw new ArgumentException($"--data {o.Data}: no such file");
        Check.AtLeast(o.Batch, 1, "--batch");
        var stdout = JsonOut(o.Json);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (model, tokenizer) = ModelSetup.Create(o, backend);
        int context = model.Config.MaxPositions;
        IReadOnlyList<LmBatch> batches;
        if (o.Data.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            var pairs = SftData.ReadJsonl(o.Data).ToList();
            if (pairs.Count == 0) throw new ArgumentException($"--data {o.Data}: no prompt/completion rows in the file");
            batches = pairs.Select(p => SftData.Encode(tokenizer, p.Item1, p.Item2))
                .Chunk(o.Batch).Select(c => SftData.Build(c, tokenizer.PadId, context)).ToList();
        }
        else
            batches = Windows(tokenizer.Encode(File.ReadAllText(o.Data)), context, o.Batch);
        int tokens = batches.Sum(b => b.CountedTokens);
        if (tokens == 0) throw new ArgumentException($"--data {o.Data}: no tokens to score (every completion was cut at the context)");
        float loss = LmTrainer.Evaluate(model, batches);
        if (o.Json)
            stdout.WriteLine(Json.Serialize(new Dictionary<string, object>
                { ["data"] = o.Data, ["loss"] = loss, ["perplexity"] = Math.Exp(loss), ["tokens"] = tokens }));
        else
            stdout.WriteLine($"eval: {o.Data}: loss {loss:F4}, perplexity {Math.Exp(loss):F3} over {tokens:N0} tokens");
        return 0;
    }

    static int EvalTask(EvalOptions o)
    {
        var task = Tasks.ReasoningTasks.Create(o.Task!);
        if (o.N < 1 || o.K < 1 || o.MaxNewTokens < 1 || o.Batch < 1)
            throw new ArgumentException("eval: --n-problems, --k-samples, --max-new-tokens and --batch must be >= 1");
        Check.PositiveFinite(o.Temperature, "--temperature");
        var stdout = JsonOut(o.Json);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (model, tokenizer) = ModelSetup.Create(o, backend);
        var problems = Tasks.ThinkingModes.Apply(
            o.Data is not null ? RlCommands.ReadProblems(o.Data) : task.Generate("test", o.N, o.Seed), o.Thinking);
        RlCommands.CheckPrompts("eval", problems, tokenizer, model.Config.MaxPositions, o.Data ?? "the held-out split");
        new Generation.SamplingOptions(o.MaxNewTokens, ThinkMin: o.ThinkMin, ThinkMax: o.ThinkMax, ThinkWait: o.ThinkWait)
            .Validate();
        var budgets = o.Budgets.ToList();
        if (o.BudgetInPrompt && budgets.Count == 0) throw new ArgumentException("eval: --budget-in-prompt needs --budgets");
        if (budgets.Count > 0) return EvalBudgets(o, stdout, model, tokenizer, task, problems, budgets);
        var scorer = o.RewardModel is null ? null : RL.RewardModel.Load(o.RewardModel, backend);
        var r = Tasks.TaskEval.Evaluate(model, tokenizer, task, problems, o.K, o.MaxNewTokens, o.Temperature, !o.SampledPass1, o.Seed,
            thinkMin: o.ThinkMin, thinkMax: o.ThinkMax, thinkWait: o.ThinkWait, scorer: scorer);
        if (o.Json) stdout.WriteLine(Json.Serialize(r));
        else
        {
            stdout.WriteLine($"eval {r.Task}: n {r.N}, pass@1 {r.Pass1:P1}, pass@{r.K} {r.PassK:P1}, maj@{r.K} {r.MajK:P1}, " +
                             $"format {r.FormatRate:P1}, mean length {r.MeanLength:F1}, mean thinking {r.MeanThinkLength:F1}, " +
                             $"thinking in {r.ThinkRate:P0}");
            if (r.BestOf is { } best)
                stdout.WriteLine("best-of-j: " + string.Join(", ", best.Select(b => $"{b.Key}: {b.Value:P1}")));
        }
        if (o.Plot is not null)
        {
            var series = new List<(string, double[], double[])>
            {
                ("pass@j", r.PassAt.Keys.Select(j => (double)j).ToArray(), r.PassAt.Values.ToArray()),
                ("maj@j", r.MajAt.Keys.Select(j => (double)j).ToArray(), r.MajAt.Values.ToArray()),
            };
            if (r.BestOf is { } b) series.Add(("best-of-j (reward model)", b.Keys.Select(j => (double)j).ToArray(), b.Values.ToArray()));
            Curves.SaveXY(o.Plot, $"{r.Task}: accuracy against samples per problem (n {r.N})", "samples per problem (j)",
                "accuracy", series, logX: true);
            Console.Error.WriteLine($"eval: wrote {o.Plot}");
        }
        return 0;
    }

    /// <summary>--budgets: the held-out evaluation once per thinking budget (budget forcing), one row each.</summary>
    static int EvalBudgets(EvalOptions o, TextWriter stdout, Model.Transformer model, Tokenizers.ITokenizer tokenizer,
        Tasks.IReasoningTask task, IReadOnlyList<Tasks.Problem> problems, List<int> budgets)
    {
        if (o.ThinkMax >= 0 || o.ThinkMin > 0)
            throw new ArgumentException("eval: --budgets sets --think-max per budget; drop --think-min/--think-max");
        if (o.RewardModel is not null) throw new ArgumentException("eval: --budgets and --reward-model are separate studies; use one");
        if (budgets.Any(b => b < 0)) throw new ArgumentException("eval: --budgets must be >= 0");
        var rows = new List<Dictionary<string, object>>();
        foreach (int b in budgets)
        {
            var r = o.BudgetInPrompt
                ? Tasks.TaskEval.Evaluate(model, tokenizer, task, Tasks.LengthControl.Assign(problems, [b]), o.K, o.MaxNewTokens,
                    o.Temperature, !o.SampledPass1, o.Seed)
                : Tasks.TaskEval.Evaluate(model, tokenizer, task, problems, o.K, o.MaxNewTokens, o.Temperature, !o.SampledPass1,
                    o.Seed, thinkMax: b);
            rows.Add(new() { ["budget"] = b, ["pass@1"] = r.Pass1, [$"pass@{r.K}"] = r.PassK, [$"maj@{r.K}"] = r.MajK,
                ["format_rate"] = r.FormatRate, ["mean_think_length"] = r.MeanThinkLength, ["mean_length"] = r.MeanLength });
            if (!o.Json)
                stdout.WriteLine($"eval {r.Task} budget {b}: pass@1 {r.Pass1:P1}, mean thinking {r.MeanThinkLength:F1}, " +
                                 $"format {r.FormatRate:P1}");
        }
        if (o.Json)
            stdout.WriteLine(Json.Serialize(new Dictionary<string, object>
                {
                    ["task"] = task.Name, ["n"] = problems.Count, ["k"] = o.K, ["budget_in_prompt"] = o.BudgetInPrompt,
                    ["budgets"] = rows,
                }));
        if (o.Plot is not null)
        {
            double[] xs = budgets.Select(b => (double)b).ToArray();
            Curves.SaveXY(o.Plot, $"{task.Name}: accuracy against the thinking budget (n {problems.Count})",
                o.BudgetInPrompt ? "thinking budget (tokens, asked in the prompt)" : "thinking budget (tokens, forced)", "pass@1",
                [("pass@1", xs, rows.Select(r => (double)r["pass@1"]).ToArray())], logX: false);
            Console.Error.WriteLine($"eval: wrote {o.Plot}");
        }
        return 0;
    }

    /// <summary>The whole text in consecutive windows of the context (every token predicted once).</summary>
    static IReadOnlyList<LmBatch> Windows(int[] tokens, int context, int batch)
    {
        if (tokens.Length < 2) throw new ArgumentException("eval: the text is shorter than two tokens");
        int steps = Math.Min(context, tokens.Length - 1);
        var windows = new List<(int[] X, int[] Y)>();
        for (int start = 0; start + 1 < tokens.Length; start += steps)
        {
            int n = Math.Min(steps, tokens.Length - 1 - start);
            var x = new int[steps];
            var y = Enumerable.Repeat(-1, steps).ToArray();
            Array.Copy(tokens, start, x, 0, n);
            Array.Copy(tokens, start + 1, y, 0, n);
            windows.Add((x, y));
        }
        return windows.Chunk(batch)
            .Select(c => new LmBatch(c.SelectMany(w => w.X).ToArray(), c.SelectMany(w => w.Y).ToArray(), c.Length, steps)).ToList();
    }

    public static int Tokenize(TokenizeOptions o)
    {
        var tokenizer = Tokenizers.Tokenizer.Create(o.Tokenizer);
        string input = Console.In.ReadToEnd();
        if (!o.Decode)
        {
            Console.WriteLine(Json.Serialize(tokenizer.Encode(input)));
            return 0;
        }
        int[] ids;
        try { ids = JsonSerializer.Deserialize<int[]>(input) ?? throw new JsonException("null"); }
        catch (JsonException) { throw new ArgumentException("tokenize --decode: stdin is not a JSON array of integers"); }
        int bad = Array.FindIndex(ids, id => id < 0 || id >= tokenizer.VocabSize);
        if (bad >= 0)
            throw new ArgumentException($"tokenize --decode: id {ids[bad]} (position {bad}) is outside the {o.Tokenizer} " +
                                        $"tokenizer's 0..{tokenizer.VocabSize - 1}");
        Console.Write(tokenizer.Decode(ids));
        return 0;
    }
}
