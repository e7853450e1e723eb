# bash completion for gatewayctl                               -*- shell-script -*-

# The index of the value of the option at index $1: bash splits
# `--scandir=DIR` into `--scandir`, `=`, `DIR`.
_gatewayctl_value_at()
{
    if [[ ${COMP_WORDS[$1 + 1]} == = ]]; then
        echo $(($1 + 2))
    else
        echo $(($1 + 1))
    fi
}

# The registered profiles, from `gatewayctl list` (one name per line), on
# the scan directory named on the command line, if any. Errors stay silent.
_gatewayctl_profiles()
{
    local prog=${COMP_WORDS[0]} i word
    local -a scandir=()
    [[ $prog == */* && -x $prog ]] || prog=gatewayctl
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --scandir ]]; then
            i=$(_gatewayctl_value_at "$i")
            ((i < COMP_CWORD)) || break
            word=${COMP_WORDS[i]}
            scandir=(--scandir "${word/#\~/$HOME}")
        fi
    done
    local out
    if type -P timeout >/dev/null 2>&1; then
        out=$(timeout 5 "$prog" "${scandir[@]}" list 2>/dev/null </dev/null)
    else
        out=$("$prog" "${scandir[@]}" list 2>/dev/null </dev/null)
    fi
    local name
    while IFS= read -r name; do
        [[ $name =~ ^[a-z0-9][a-z0-9_-]*$ ]] && printf '%s\n' "$name"
    done <<<"$out"
}

_gatewayctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="start stop restart status list run reconcile register unregister check help"
    COMPREPLY=()

    # `--opt=` followed by the value being typed.
    if [[ $cur == = ]]; then
        prev=$prev cur=""
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    # The command: the first word that is neither an option nor an
    # option's value. For run, `command_at` is where COMMAND starts.
    local i word command="" positional=0 command_at=0 ended=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $command == run ]] && ((ended)) || [[ $command == run && $word != -* ]]; then
            command_at=$i
            break
        fi
        case $word in
            -p | --profile | --scandir | -T | --timeout | --template | --owner)
                i=$(_gatewayctl_value_at "$i")
                ;;
            --)
                [[ $command == run ]] && ended=1
                ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=$word
                else
                    ((positional++))
                fi
                ;;
        esac
    done

    if [[ $command == run ]] && ((command_at > 0)); then
        if declare -F _command_offset >/dev/null; then
            _command_offset "$command_at"
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
    fi
    if [[ $command == run ]] && ((ended)); then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        return 0
    fi

    case $prev in
        -p | --profile)
            mapfile -t COMPREPLY < <(compgen -W "$(_gatewayctl_profiles)" -- "$cur")
            return 0
            ;;
        --scandir | --template)
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return 0
            ;;
        -T | --timeout | --owner)
            return 0
            ;;
    esac

    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "-p --profile --scandir -h --help -V --version" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return 0
    fi

    local options="" profiles=""
    case $command in
        start) options="-w --wait -T --timeout" profiles=1 ;;
        stop | restart) options="--all -w --wait -T --timeout" profiles=1 ;;
        status) options="--all --json" profiles=1 ;;
        list) options="--json" ;;
        run) options="--no-supervise --" ;;
        reconcile) options="--dry-run --json --template --owner" ;;
        register) options="--start --template --owner" ;;
        unregister) options="-T --timeout" profiles=1 ;;
        check) options="--json" profiles=1 ;;
        *) return 0 ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options -p --profile --scandir -h --help" -- "$cur")
    elif [[ -n $profiles ]] && ((positional == 0)); then
        mapfile -t COMPREPLY < <(compgen -W "$(_gatewayctl_profiles)" -- "$cur")
    elif [[ $command == run ]]; then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
    fi
    return 0
}

complete -F _gatewayctl gatewayctl
