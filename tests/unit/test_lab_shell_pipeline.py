"""PSRP pipelines: cmdlets called with parameters as objects, scripts, errors as messages."""

from __future__ import annotations

from datetime import UTC, datetime

import psrpcore.types as psrp_types
from psrpcore.types import PSCryptoProvider, deserialize_clixml, serialize_clixml

from fleetfix.lab.api import PipelineCommand
from fleetfix.lab.shell import run_pipeline
from tests.unit.test_lab_shell_support import new_machine


def test_a_cmdlet_returns_objects_that_keep_their_type_through_clixml() -> None:
    command = PipelineCommand("Get-Service", parameters={"Name": "WinRM"})
    result = run_pipeline(new_machine(), [command])
    assert not result.had_errors
    # No secure strings travel here, so the base provider (which refuses to encrypt) is enough.
    cipher = PSCryptoProvider()
    [service] = deserialize_clixml(serialize_clixml(result.output[0], cipher), cipher)
    # What a client sees from a real host: the type name, marked as deserialized.
    assert service.PSObject.type_names[0] == "Deserialized.System.ServiceProcess.ServiceController"
    assert (service.Name, service.Status, service.StartType) == ("WinRM", 4, 2)


def test_enums_print_as_their_names() -> None:
    command = PipelineCommand("Get-Service", parameters={"Name": "WinRM"})
    assert str(run_pipeline(new_machine(), [command]).output[0].Status) == "Running"


def test_custom_objects_from_scripts_arrive_as_pscustomobjects() -> None:
    script = "[pscustomobject]@{ ok = $true; when = [datetime]::Parse('2024-07-19T05:27:00Z') }"
    [report] = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)]).output
    assert isinstance(report, psrp_types.PSCustomObject)
    assert report.ok is True
    assert report.when == datetime(2024, 7, 19, 5, 27, tzinfo=UTC)


def test_parameter_values_are_data_never_code() -> None:
    machine = new_machine()
    hostile = "x'; bcdedit /set '{default}' safeboot network; '"
    result = run_pipeline(machine, [PipelineCommand("Get-Service", parameters={"Name": hostile})])
    assert [error.target for error in result.errors] == [hostile]
    assert machine.bcd.safeboot is None


def test_a_script_step_with_arguments_binds_its_param_block() -> None:
    script = "param($Path)\nTest-Path -Path $Path"
    result = run_pipeline(
        new_machine(),
        [PipelineCommand(script, is_script=True, parameters={"Path": "C:\\Windows\\Minidump"})],
    )
    assert result.output == [True]


def test_steps_pipe_their_output_into_the_next_step() -> None:
    result = run_pipeline(
        new_machine(),
        [
            PipelineCommand("Get-Service"),
            PipelineCommand("Select-Object", parameters={"First": 2, "ExpandProperty": "Name"}),
        ],
    )
    assert result.output == ["csagent", "CSFalconService"]


def test_input_objects_reach_the_first_step() -> None:
    result = run_pipeline(
        new_machine(), [PipelineCommand("Measure-Object")], input_objects=[1, 2, 3]
    )
    [measure] = result.output
    assert measure.Count == 3


def test_an_unknown_cmdlet_fails_the_pipeline() -> None:
    result = run_pipeline(new_machine(), [PipelineCommand("Get-Nothing")])
    assert result.had_errors
    assert result.failure is not None
    assert result.failure.message.startswith("The term 'Get-Nothing' is not recognized")
    assert result.errors == []


def test_a_dictionary_parameter_is_read_as_a_hashtable() -> None:
    query = {"logname": "System", "Id": [6005]}
    result = run_pipeline(
        new_machine(), [PipelineCommand("Get-WinEvent", parameters={"FilterHashtable": query})]
    )
    assert [event.Id for event in result.output] == [6005]


def test_input_objects_from_a_client_are_read_as_objects() -> None:
    sent = psrp_types.PSCustomObject(Name="Spooler")
    result = run_pipeline(
        new_machine(),
        [PipelineCommand("Select-Object", parameters={"ExpandProperty": "Name"})],
        input_objects=[sent],
    )
    assert result.output == ["Spooler"]


def test_begin_process_end_blocks_run_once_per_input_object() -> None:
    script = 'begin { $seen = 0; \'begin\' }\nprocess { $seen++; "got $_" }\nend { "end $seen" }'
    result = run_pipeline(
        new_machine(), [PipelineCommand(script, is_script=True)], input_objects=["a", "b"]
    )
    assert result.output == ["begin", "got a", "got b", "end 2"]


def test_a_throw_keeps_what_was_written_before_it() -> None:
    script = "'before'\nthrow 'bad'\n'after'"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert result.output == ["before"]
    assert result.failure is not None and result.failure.message == "bad"
    assert result.errors == []  # Windows sends it in the Failed state only
    assert result.had_errors


def test_a_statement_error_inside_a_function_lets_the_function_go_on() -> None:
    script = "function Test-It {\n  [int]'x'\n  'went on'\n}\nTest-It"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert result.output == ["went on"]
    assert len(result.errors) == 1


def test_silently_continued_errors_are_not_reported() -> None:
    script = "Get-Item 'C:\\nope' -ErrorAction SilentlyContinue\n'ok'"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert (result.output, result.errors, result.had_errors) == (["ok"], [], False)


def test_exit_in_a_psrp_script_is_not_an_error() -> None:
    script = "'reported'\nexit 1\n'unreached'"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert (result.output, result.had_errors) == (["reported"], False)


def test_a_non_terminating_error_is_a_record_and_the_pipeline_completes() -> None:
    result = run_pipeline(
        new_machine(), [PipelineCommand("Get-Item", parameters={"Path": "C:\\missing"})]
    )
    assert (result.failure, result.had_errors) == (None, False)
    [error] = result.errors
    assert error.message == "Cannot find path 'C:\\missing' because it does not exist."
    assert error.fully_qualified_error_id == (
        "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
    )
    assert (error.category, error.target) == ("ObjectNotFound", "C:\\missing")


def test_error_action_stop_makes_the_same_error_terminating() -> None:
    parameters = {"Path": "C:\\missing", "ErrorAction": "Stop"}
    result = run_pipeline(new_machine(), [PipelineCommand("Get-Item", parameters=parameters)])
    assert result.had_errors
    assert result.failure is not None
    assert result.failure.fully_qualified_error_id.startswith("PathNotFound,")
    assert result.errors == []


def test_a_statement_terminating_error_in_a_script_lets_the_pipeline_complete() -> None:
    script = "[int]'x'\n'went on'"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert (result.output, result.had_errors, len(result.errors)) == (["went on"], False, 1)


def test_an_error_record_knows_its_place_among_the_output() -> None:
    script = "'one'\nWrite-Error 'in between'\n'two'\n'three'"
    result = run_pipeline(new_machine(), [PipelineCommand(script, is_script=True)])
    assert result.output == ["one", "two", "three"]
    assert [(e.message, e.after_output) for e in result.errors] == [("in between", 1)]
