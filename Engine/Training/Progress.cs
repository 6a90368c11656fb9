using Spectre.Console;

namespace Engine.Training;

/// <summary>
/// How a run shows its progress: a Spectre.Console bar with the latest figures when stdout is a
/// terminal; plain lines every N steps otherwise (logs, CI, pipes).
/// </summary>
public static class Progress
{
    public delegate void Report(int step, string status);

    public static void Run(string title, int start, int total, int logEvery, Action<Report> body)
    {
        bool terminal = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null;
        if (!terminal)
        {
            body((step, status) =>
            {
                if ((step + 1) % logEvery == 0 || step == total - 1) Console.WriteLine($"{title} step {step + 1,5}/{total}  {status}");
            });
            return;
        }
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: total);
                task.Value = start;
                body((step, status) =>
                {
                    task.Value = step + 1;
                    task.Description = Markup.Escape($"{title} {step + 1}/{total} {status}");
                });
            });
    }
}
