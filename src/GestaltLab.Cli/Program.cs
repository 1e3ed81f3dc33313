using GestaltLab.Cli;

// The gestaltlab command. Each verb lives in its own file under Commands/ as an ICliCommand and calls only the
// library's public API; verbs are discovered here so adding one never means editing a shared list.
return await CliRunner.InvokeAsync(CliRunner.BuildRoot(), args);
