using System.Text.Json.Nodes;
using CommandLine;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Generation;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

[Verb("rejection-sample",
    HelpText = "Sample k completions per problem and keep only verified-correct, well-formatted traces as SFT JSONL.")]
sealed class RejectionOptions : CheckpointOptions
{
    [Option("task", Default = "arithmetic", HelpText = "The verifier (and the problems unless --data is given).")]
    public string Task { get; set; } = "arithmetic";
    [Option("data", HelpText = "JSONL of {\"prompt\",\"answer\"} problems instead of the task's training split.")]
    public string? Data { get; set; }
    [Option("n-problems", Default = 500, HelpText = "Training problems to sample on (short form: --n).")]
    public int N { get; set; }
    [Option("k-samples", Default = 4, HelpText = "Samples per problem (short form: --k).")]
    public int K { get; set; }
    [Option("temperature", Default = 1f, HelpText = "Sampling temperature.")]
    public float Temperature { get; set; }
    [Option("max-new-tokens", Default = 40, HelpText = "Completion budget.")]
    public int MaxNewTokens { get; set; }
    [Option("out", Required = true, HelpText = "Output JSONL of {\"prompt\",\"completion\"}.")]
    public string Out { get; set; } = "";
}

[Verb("distill", HelpText = "SFT a (smaller) student on a teacher's verified traces (the R1 paper's distillation).")]
sealed class DistillOptions : CommonOptions, IRunOptions
{
    [Option("teacher", Required = true, HelpText = "Teacher checkpoint.")]
    public string Teacher { get; set; } = "";
    [Option("student", Default = "micro", HelpText = "Student: a preset or config.json (fresh), or a checkpoint folder.")]
    public string Student { get; set; } = "micro";
    [Option("task", Default = "arithmetic", HelpText = "Task whose training problems the teacher solves.")]
    public string Task { get; set; } = "arithmetic";
    [Option("n-problems", Default = 2000, HelpText = "Problems the teacher samples on (short form: --n).")]
    public int N { get; set; }
    [Option("k-samples", Default = 2, HelpText = "Teacher samples per problem (short form: --k).")]
    public int K { get; set; }
    [Option("steps", Default = 400, HelpText = "Student SFT steps.")]
    public int Steps { get; set; }
    [Option("lr", Default = 3e-3f, HelpText = "Student learning rate.")]
    public float Lr { get; set; }
    [Option("out", HelpText = "Run folder: traces.jsonl, the student's checkpoints, summary.json. " +
                              "Default: a new runs/distill, runs/distill-2, ...")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out.")]
    public bool Overwrite { get; set; }
}

static class RecipeCommands
{
    public static int Rejection(RejectionOptions o)
    {
        if (o.Checkpoint is null) throw new ArgumentException("rejection-sample: --checkpoint DIR is required");
        if (o.N < 1 || o.K < 1 || o.MaxNewTokens < 1)
            throw new ArgumentException("rejection-sample: --n-problems, --k-samples and --max-new-tokens must be >= 1");
        Check.PositiveFinite(o.Temperature, "--temperature");
        var task = ReasoningTasks.Create(o.Task);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (model, tokenizer) = ModelSetup.Create(o, backend);
        var problems = o.Data is not null ? RlCommands.ReadProblems(o.Data) : task.Generate("train", o.N, o.Seed);
        RlCommands.CheckPrompts("rejection-sample", problems, tokenizer, model.Config.MaxPositions, o.Data ?? "generated problems");
        var (kept, acceptance) = RejectionSampling.Run(model, tokenizer, task, problems, o.K, o.Temperature, o.MaxNewTokens, o.Seed);
        RejectionSampling.WriteSft(o.Out, kept);
        Console.WriteLine($"rejection-sample: {problems.Count} problems × {o.K} samples, {acceptance:P1} verified " +
            $"correct; wrote {kept.Count} traces to {o.Out}");
        return 0;
    }

    public static int Distill(DistillOptions o)
    {
        if (o.N < 1 || o.K < 1 || o.Steps < 1) throw new ArgumentException("distill: --n-problems, --k-samples and --steps must be >= 1");
        Check.PositiveFinite(o.Lr, "--lr");
        var task = ReasoningTasks.Create(o.Task);
        var runDir = RunDirs.For("distill", o);
        var (_, backend, _) = ModelSetup.Backend(o, false);
        var (teacher, tokenizer) = Checkpoint.Load(o.Teacher, backend, "--teacher");
        Console.WriteLine($"distill: teacher {o.Teacher} ({teacher.ParameterCount:N0} parameters) samples {o.N} × {o.K}");
        var (kept, acceptance) = RejectionSampling.Run(teacher, tokenizer, task, task.Generate("train", o.N, o.Seed), o.K, 1f, 40, o.Seed);
        if (kept.Count < 2)
            throw new InvalidOperationException($"distill: the teacher produced {kept.Count} verified traces; " +
                $"nothing to distil");
        string outDir = runDir.Claim();
        Directory.CreateDirectory(outDir);
        RejectionSampling.WriteSft(Path.Combine(outDir, "traces.jsonl"), kept);
        Transformer student = Directory.Exists(o.Student) ? Checkpoint.Load(o.Student, backend, "--student").Model
            : new Transformer(File.Exists(o.Student) ? ModelConfig.Load(o.Student)
                : ModelConfig.Preset(o.Student, tokenizer.VocabSize, teacher.Config.MaxPositions), backend, o.Seed);
        Console.WriteLine($"distill: {kept.Count} verified traces ({acceptance:P1} accepted); " +
                          $"student {student.ParameterCount:N0} parameters, {o.Steps} SFT steps");
        var data = new SftData(kept, tokenizer, student.Config.MaxPositions);
        LmTrainResult r;
        try
        {
            using var _ = Interrupt.Defer();
            r = LmTrainer.Train(student, tokenizer, AdamW.For(student, 0.1f), data, new Rng(o.Seed),
                new LmTrainOptions
                {
                    Steps = o.Steps, Batch = 16, Schedule = new LrSchedule(o.Lr, 20, o.Steps), EvalBatches = 4, LogEvery = 50,
                    Out = Path.Combine(outDir, "student"), Seed = o.Seed, Kind = "distill",
                });
        }
        catch (InterruptedException e) { throw new InterruptedException(e.Step, e.Checkpoint, resumable: false); }
        var eval = TaskEval.Evaluate(student, tokenizer, task, task.Generate("test", 200, o.Seed), 4, 40, 1f, true, o.Seed);
        RunFolder.WriteSummary(outDir, new Dictionary<string, object>
        {
            ["traces"] = kept.Count, ["acceptance"] = acceptance, ["student_parameters"] = student.ParameterCount, ["eval"] = eval,
            ["student_eval_loss"] = r.EvalLoss, ["checkpoint"] = Path.Combine(outDir, "student", "final"),
        });
        Console.WriteLine($"distill: student pass@1 {eval.Pass1:P1}, pass@4 {eval.PassK:P1} on 200 held-out; " +
                          $"wrote {Path.Combine(outDir, "student", "final")}");
        return 0;
    }
}
