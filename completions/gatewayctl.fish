# fish completion for gatewayctl

# The command: the first word that is neither an option nor the value of
# -p, --profile or --scandir.
function __gatewayctl_command
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case -p --profile --scandir
                set skip 1
            case '-*'
            case '*'
                echo $t
                return 0
        end
    end
    return 1
end

function __gatewayctl_command_is
    set -l c (__gatewayctl_command)
    or return 1
    contains -- $c $argv
end

# The registered profiles, from `gatewayctl list` (one name per line), on
# the scan directory named on the command line, if any. Errors stay silent.
function __gatewayctl_profiles
    set -l tokens (commandline -opc)
    set -l scandir
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --scandir
                if test $i -lt (count $tokens)
                    set scandir --scandir $tokens[(math $i + 1)]
                end
            case '--scandir=*'
                set scandir --scandir (string replace -- --scandir= '' $tokens[$i])
        end
    end
    command gatewayctl $scandir list 2>/dev/null </dev/null | string match -r -- '^[a-z0-9][a-z0-9_-]*$'
end

complete -c gatewayctl -f

# Before the command.
set -l __gatewayctl_no_command 'not __gatewayctl_command >/dev/null'
complete -c gatewayctl -n $__gatewayctl_no_command -a start -d 'Start a gateway'
complete -c gatewayctl -n $__gatewayctl_no_command -a stop -d 'Stop a gateway, or every one'
complete -c gatewayctl -n $__gatewayctl_no_command -a restart -d 'Restart a gateway, or every one'
complete -c gatewayctl -n $__gatewayctl_no_command -a status -d 'Show the state of gateways'
complete -c gatewayctl -n $__gatewayctl_no_command -a list -d 'List the registered profiles'
complete -c gatewayctl -n $__gatewayctl_no_command -a run -d 'Hand the container CMD to s6'
complete -c gatewayctl -n $__gatewayctl_no_command -a reconcile -d 'Make the slots of every profile'
complete -c gatewayctl -n $__gatewayctl_no_command -a register -d 'Make the slot of one profile'
complete -c gatewayctl -n $__gatewayctl_no_command -a unregister -d 'Stop a gateway and remove its slot'
complete -c gatewayctl -n $__gatewayctl_no_command -a check -d 'Exit 0 when every gateway s6 wants up is up'
complete -c gatewayctl -n $__gatewayctl_no_command -a help -d 'Print the help'
complete -c gatewayctl -n $__gatewayctl_no_command -s V -l version -d 'Print the version and exit'

# Anywhere.
complete -c gatewayctl -s p -l profile -x -a '(__gatewayctl_profiles)' -d 'Profile to act on'
complete -c gatewayctl -l scandir -x -a '(__fish_complete_directories)' -d 'Use the s6 scan directory DIR'
complete -c gatewayctl -s h -l help -d 'Print the help and exit'

# The commands' own options and arguments.
complete -c gatewayctl -n '__gatewayctl_command_is start stop restart status unregister check' -a '(__gatewayctl_profiles)' -d Profile
complete -c gatewayctl -n '__gatewayctl_command_is start stop restart' -s w -l wait -d 'Wait until up, down or restarted'
complete -c gatewayctl -n '__gatewayctl_command_is start stop restart unregister' -s T -l timeout -x -d 'How long to wait, in seconds'
complete -c gatewayctl -n '__gatewayctl_command_is stop restart status' -l all -d 'Every registered gateway'
complete -c gatewayctl -n '__gatewayctl_command_is status list reconcile check' -l json -d 'Machine-readable output'
complete -c gatewayctl -n '__gatewayctl_command_is run' -l no-supervise -d 'Run COMMAND in the foreground'
complete -c gatewayctl -n '__gatewayctl_command_is run' -a '(__fish_complete_command)' -d Command
complete -c gatewayctl -n '__gatewayctl_command_is reconcile' -l dry-run -d 'Say what would be done, change nothing'
complete -c gatewayctl -n '__gatewayctl_command_is register' -l start -d 'Start the gateway at once'
complete -c gatewayctl -n '__gatewayctl_command_is register reconcile' -l template -x -a '(__fish_complete_directories)' -d 'Copy this service directory'
complete -c gatewayctl -n '__gatewayctl_command_is register reconcile' -l owner -x -d 'UID:GID who may control the slots'
